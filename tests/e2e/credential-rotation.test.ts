// @matrix: store broker smoke
/** Rotating a device's broker secret on request, over the control channel (both brokers). */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import mqtt from "mqtt";
import {
  cleanupTempDirs,
  enrollOnline,
  type ServerHandle,
  startAgent,
  startServer,
  waitFor,
} from "./harness.js";

const identity = (dir: string) => JSON.parse(readFileSync(join(dir, "identity.json"), "utf8"));

describe("broker credential rotation", () => {
  const stops: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
    await cleanupTempDirs();
  });

  test("a rotated secret replaces the old one once the agent has stored it; the old one is refused", async () => {
    const server: ServerHandle = await startServer();
    stops.push(() => server.stop());
    const { agent } = await enrollOnline(server, { name: "cred-1" });
    const before = identity(agent.dataDir);
    const oldPassword: string = before.broker.password;

    const r = await server.api.call<{ queued: boolean }>("POST", "/api/v1/devices/cred-1/rotate-credential");
    assert.equal(r.queued, false);
    await waitFor(async () => {
      const log = await server.api.call<any[]>("GET", "/api/v1/audit?device=cred-1");
      return log.some((e) => e.action === "device.credential-applied");
    }, "rotation applied after the agent's ack");

    // A fresh connection uses the new secret and forgets the old one.
    await agent.stop();
    const again = startAgent({ dataDir: agent.dataDir });
    stops.push(() => again.stop());
    // Wait on the agent itself: with an external broker, a connection dropped by a password
    // change fires no will, so the server's online flag may still be the old connection's.
    await waitFor(() => /control channel ready/.test(again.stderr()), "agent ready again");
    await waitFor(() => identity(agent.dataDir).broker.nextPassword === undefined, "old secret forgotten");
    const after = identity(agent.dataDir);
    assert.notEqual(after.broker.password, oldPassword);
    assert.equal(after.broker.nextPassword, undefined);
    // The new session answers pings (retried: on a loaded machine one may miss its 10 s).
    const ping = await waitFor(async () => {
      const r = await server.api.request<{ rttMs: number }>("POST", "/api/v1/devices/cred-1/ping", {});
      return r.status === 200 ? r.body : undefined;
    }, "a ping answered over the new session");
    assert.ok(ping.rttMs > 0);

    // The old secret no longer opens a session for this device.
    await assert.rejects(
      mqtt.connectAsync(before.broker.url, {
        clientId: before.deviceId,
        username: before.deviceId,
        password: oldPassword,
        ca: before.broker.caCert,
        reconnectPeriod: 0,
        connectTimeout: 10_000,
        protocolVersion: 4,
      }),
      (err: any) => [4, 5].includes(err?.code),
    );
    const audit = await server.api.call<any[]>("GET", "/api/v1/audit?device=cred-1");
    assert.ok(audit.some((e) => e.action === "device.rotate-credential" && e.actor === "admin"));
  });

  test("a rotation queued for an offline device takes effect when it is back", async () => {
    const server: ServerHandle = await startServer();
    stops.push(() => server.stop());
    const { agent } = await enrollOnline(server, { name: "cred-2" });
    await agent.stop();
    await waitFor(
      async () => !(await server.api.call<any>("GET", "/api/v1/devices/cred-2")).online,
      "offline",
    );
    const r = await server.api.call<{ queued: boolean }>("POST", "/api/v1/devices/cred-2/rotate-credential");
    assert.equal(r.queued, true);
    const again = startAgent({ dataDir: agent.dataDir });
    stops.push(() => again.stop());
    await waitFor(async () => {
      const log = await server.api.call<any[]>("GET", "/api/v1/audit?device=cred-2");
      return log.some((e) => e.action === "device.credential-applied");
    }, "applied after reconnect");
    await waitFor(() => identity(agent.dataDir).broker.nextPassword === undefined, "rotated secret in use");
    // Applying the rotation closes the connection once; the agent comes back with the new secret.
    await waitFor(
      async () => (await server.api.request("POST", "/api/v1/devices/cred-2/ping", {})).status === 200,
      "ping answered over the new connection",
    );
  });
});
