// @matrix: once
// A user's open command event stream is closed when their access changes (removed from the
// project, or the API token revoked), so a revoked user stops seeing live output at once.
// In-process server on loopback, real SQLite, real HTTPS + SSE.
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { pino } from "pino";
import { createServer, type TetherServer } from "../src/create-server.js";
import { insertDevice } from "./support.js";

const root = mkdtempSync(join(tmpdir(), "tether-userchange-"));
after(() => rmSync(root, { recursive: true, force: true }));

async function api(srv: TetherServer, token: string, method: string, path: string, body?: unknown) {
  const r = await srv.app.inject({
    method: method as "GET",
    url: path,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    payload: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.statusCode, body: r.json() };
}

/** Open the command's SSE stream as `token`; resolves once the response headers are in. */
async function openStream(url: string, ca: string, token: string): Promise<IncomingMessage> {
  const req = https.request(url, { ca, headers: { authorization: `Bearer ${token}` } });
  req.end();
  const [res] = (await once(req, "response")) as [IncomingMessage];
  assert.equal(res.statusCode, 200);
  res.resume();
  return res;
}

for (const how of ["removed from the project", "API token revoked"] as const) {
  test(`an open event stream is closed when its user is ${how}`, async () => {
    const srv = await createServer({
      dataDir: join(root, how.replace(/\W+/g, "-")),
      listen: { host: "127.0.0.1", port: 0 },
      mqttListen: { host: "127.0.0.1", port: 0 },
      log: pino({ level: "silent" }),
    });
    try {
      const info = await srv.listen();
      const { accounts, store } = srv.services;
      const projectId = await accounts.projectId("default");
      const admin = await accounts.userId("admin");
      const { token: adminToken } = await accounts.createApiToken(admin, projectId, "test");
      const bob = await accounts.createUser("bob", "a-long-password-1");
      await accounts.setRole(bob, projectId, "operator");
      const { token, id: tokenId } = await accounts.createApiToken(bob, projectId, "bob's");
      await insertDevice(store.db, projectId, "robot-1");
      // The device is offline: with a queue TTL the command stays queued, so its stream stays open.
      const c = await api(srv, token, "POST", "/api/v1/commands", {
        argv: ["true"],
        devices: ["robot-1"],
        queueTtlMs: 3_600_000,
      });
      assert.equal(c.status, 201);
      const res = await openStream(`${info.url}/api/v1/commands/${c.body.id}/events`, srv.tls.ca, token);
      const ended = once(res, "end");
      const r =
        how === "API token revoked"
          ? await api(srv, adminToken, "DELETE", `/api/v1/api-tokens/${tokenId}`)
          : await api(srv, adminToken, "DELETE", "/api/v1/users/bob");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      await ended; // the server ended the stream; without the user-change step this never resolves
      // And the user cannot open it again.
      const again = await api(srv, token, "GET", `/api/v1/commands/${c.body.id}`);
      assert.equal(again.status, 401);
    } finally {
      await srv.close();
    }
  });
}
