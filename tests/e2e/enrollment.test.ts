// @matrix: store broker smoke
/** Enrollment as an agent meets it: tokens, pending/accept, refusals, revocation. */
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  ed25519Sign,
  generateEd25519,
  generateX25519,
  LABEL_ENROLL,
  sha256,
  signedBytes,
} from "@tether/protocol";
import {
  cleanupTempDirs,
  createToken,
  device,
  enrollOnline,
  type ServerHandle,
  startAgent,
  startServer,
  tempDir,
  waitFor,
} from "./harness.js";

const b64u = (b: Buffer) => b.toString("base64url");
const facts = {
  os: "linux",
  osRelease: "test",
  kernel: "6",
  arch: "arm64",
  hostname: "robot-h",
  addresses: ["10.0.0.9"],
  agentVersion: "0.1.0",
};

function signedRequest(
  token: string,
  o: { fp?: string; name?: string; keys?: ReturnType<typeof generateEd25519> } = {},
) {
  const sign = o.keys ?? generateEd25519();
  const noise = generateX25519();
  const fp = o.fp ?? token.split(".")[1];
  const request = {
    purpose: LABEL_ENROLL,
    tokenHash: b64u(sha256(token)),
    serverFingerprint: fp,
    signKey: b64u(sign.publicKey),
    noiseKey: b64u(noise.publicKey),
    name: o.name ?? "raw-device",
    facts,
  };
  return {
    sign,
    body: {
      token,
      request,
      signature: b64u(ed25519Sign(sign.privateKey, signedBytes(LABEL_ENROLL, request))),
    },
  };
}

describe("enrollment", () => {
  let server: ServerHandle;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
    await cleanupTempDirs();
  });

  test("an auto-accept token enrolls an agent that comes online, with labels, facts and 0600 keys", async () => {
    const { agent, device: d } = await enrollOnline(server, { name: "auto-1", labels: { site: "tokyo" } });
    assert.equal(d.state, "accepted");
    assert.deepEqual(d.labels, { site: "tokyo" });
    assert.equal((d.facts as any).os, "linux");
    for (const f of ["keys.json", "identity.json"]) {
      assert.equal(statSync(join(agent.dataDir, f)).mode & 0o777, 0o600, `${f} must be 0600`);
    }
    const ping = await server.api.call<{ rttMs: number }>("POST", "/api/v1/devices/auto-1/ping", {});
    assert.ok(ping.rttMs > 0);
    const sel = await server.api.call<any[]>(
      "GET",
      `/api/v1/devices?selector=${encodeURIComponent(`site=tokyo,fact.arch=${(d.facts as any).arch}`)}`,
    );
    assert.deepEqual(
      sel.map((x) => x.name),
      ["auto-1"],
    );
    const none = await server.api.call<any[]>("GET", "/api/v1/devices?selector=site=osaka");
    assert.equal(none.length, 0);
    assert.equal(await agent.stop(), 0, "SIGTERM stops the agent cleanly");
    const after = await waitFor(async () => {
      const x = await device(server.api, "auto-1");
      return x.online ? undefined : x;
    }, "offline after goodbye");
    assert.equal(after.online, false);
    const conns = await server.api.call<any[]>("GET", "/api/v1/devices/auto-1/connections");
    assert.equal(conns[0].reason, "goodbye");
  });

  test("a pending device waits with signed polls until accepted, showing its fingerprint first", async () => {
    const token = await createToken(server.api, {});
    const agent = startAgent({
      dataDir: join(tempDir(), "agent"),
      url: server.info.url,
      token,
      name: "pend-1",
    });
    const pending = await waitFor(async () => {
      const r = await server.api.request("GET", "/api/v1/devices/pend-1");
      return r.status === 200 ? r.body : undefined;
    }, "pending device");
    assert.equal(pending.state, "pending");
    assert.equal(pending.online, false);
    const keys = JSON.parse(readFileSync(join(agent.dataDir, "keys.json"), "utf8"));
    assert.equal(pending.fingerprint, b64u(sha256(Buffer.from(keys.signPublic, "base64url"))));
    assert.equal(pending.sourceAddress.replace("::ffff:", ""), "127.0.0.1");
    await server.api.call("POST", "/api/v1/devices/pend-1/accept");
    await waitFor(async () => (await device(server.api, "pend-1")).online, "accepted device online", 60_000);
    await agent.stop();
  });

  test("expired, used-up, forged and foreign tokens are refused; a lost answer does not burn a single-use token", async () => {
    const single = await createToken(server.api, { uses: 1 });
    const first = signedRequest(single);
    const r1 = await server.api.request("POST", "/api/v1/enroll", first.body);
    assert.equal(r1.status, 200);
    // Same key again (the answer was lost): same device, token not burnt twice.
    const again = await server.api.request("POST", "/api/v1/enroll", first.body);
    assert.equal(again.status, 200);
    assert.equal(again.body.response.deviceId, r1.body.response.deviceId);
    // Another key with the used-up token.
    const second = await server.api.request("POST", "/api/v1/enroll", signedRequest(single).body);
    assert.equal(second.status, 403);
    assert.equal(second.body.error.code, "TETHER_ERR_ENROLL_TOKEN_INVALID");
    assert.match(second.body.error.message, /used up/);

    const expired = await createToken(server.api, { expiresInSeconds: 0.001 });
    // The token expires 1 ms after it was made: let that millisecond pass before using it.
    const madeBy = Date.now();
    while (Date.now() <= madeBy + 2) await new Promise((r) => setImmediate(r));
    const e = await server.api.request("POST", "/api/v1/enroll", signedRequest(expired).body);
    assert.equal(e.status, 403);
    assert.match(e.body.error.message, /expired/);

    const fp = single.split(".")[1];
    const forged = `tether1.${fp}.${b64u(Buffer.alloc(32, 7))}`;
    const f = await server.api.request("POST", "/api/v1/enroll", signedRequest(forged).body);
    assert.equal(f.status, 403);
    assert.equal(f.body.error.code, "TETHER_ERR_ENROLL_TOKEN_INVALID");

    const good = await createToken(server.api, {});
    const other = b64u(Buffer.alloc(32, 1));
    const w = await server.api.request("POST", "/api/v1/enroll", signedRequest(good, { fp: other }).body);
    assert.equal(w.status, 400);
    assert.equal(w.body.error.code, "TETHER_ERR_ENROLL_WRONG_SERVER");

    // A signature that does not match the key it carries.
    const bad = signedRequest(good);
    bad.body.request.name = "tampered";
    const s = await server.api.request("POST", "/api/v1/enroll", bad.body);
    assert.equal(s.status, 400);
    assert.equal(s.body.error.code, "TETHER_ERR_ENROLL_SIGNATURE");
    // The good token is still unused after all those refusals.
    const list = await server.api.call<any[]>("GET", "/api/v1/enrollment-tokens");
    assert.equal(list.find((t) => t.usesLeft === 1 && t.uses === 0 && t.id === list[0].id)?.uses, 0);
  });

  test("an agent with a token for another server refuses to enroll (pinned fingerprint)", async () => {
    const token = await createToken(server.api, {});
    const wrong = `tether1.${b64u(Buffer.alloc(32, 9))}.${token.split(".")[2]}`;
    const agent = startAgent({
      dataDir: join(tempDir(), "agent"),
      url: server.info.url,
      token: wrong,
      name: "mitm",
    });
    const code = await agent.exited;
    assert.equal(code, 3);
    assert.match(agent.stderr(), /not the one the token was made for/);
  });

  test("revocation cuts a connected device off, refuses its reconnect and its re-enrollment", async () => {
    const { agent } = await enrollOnline(server, { name: "rev-1" });
    const keys = JSON.parse(readFileSync(join(agent.dataDir, "keys.json"), "utf8"));
    const revoked = await server.api.call("POST", "/api/v1/devices/rev-1/revoke");
    assert.equal(revoked.state, "revoked");
    await waitFor(async () => !(await device(server.api, "rev-1")).online, "revoked device offline");
    // The agent tries again and is refused by the broker (bad credentials), logging why.
    await waitFor(() => /refused this device's credentials/.test(agent.stderr()), "agent sees refusal");
    const ping = await server.api.request("POST", "/api/v1/devices/rev-1/ping", {});
    assert.equal(ping.status, 409);
    // Delete and re-enroll with the same key: refused (blocklist).
    await server.api.call("DELETE", "/api/v1/devices/rev-1");
    const token = await createToken(server.api, {});
    const sign = {
      publicKey: Buffer.from(keys.signPublic, "base64url"),
      privateKey: Buffer.from(keys.signPrivate, "base64url"),
    };
    const r = await server.api.request("POST", "/api/v1/enroll", signedRequest(token, { keys: sign }).body);
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, "TETHER_ERR_ENROLL_KEY_BLOCKED");
    const audit = await server.api.call<any[]>("GET", "/api/v1/audit");
    const actions = audit.map((a) => a.action);
    assert.ok(actions.includes("device.revoke") && actions.includes("device.delete"));
    await agent.kill();
  });
});
