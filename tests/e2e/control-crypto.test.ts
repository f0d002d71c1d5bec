// @matrix: store
/**
 * The control channel under attack (docs/protocol.md §4–9): the test itself plays the
 * device with a raw MQTT client, A's real broker credentials and A's real keys (its agent
 * stopped), and replays, tampers with and forges frames. Ordering proofs rely on the
 * server processing one device's frames in order: after a suspicious frame we publish a
 * frame with a guaranteed, observable answer and wait for that answer.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import {
  DATA_HEADER_LEN,
  encodeWill,
  FrameDirection,
  FrameType,
  generateEd25519,
  startHandshake,
  verifyReject,
} from "@tether/protocol";
import {
  type Api,
  cleanupTempDirs,
  device,
  enrollOnline,
  type ServerHandle,
  startServer,
  TEST_BROKER,
  waitFor,
} from "./harness.js";
import { isType, RawDevice, type RawIdent, readIdent } from "../support/raw-device.js";

// The raw device talks to the embedded broker (its TLS port and its credentials check).
const SKIP =
  TEST_BROKER === "mosquitto"
    ? "drives the embedded broker as a raw device; the crypto against Mosquitto is covered by tests/e2e/mosquitto.test.ts (broker blindness)"
    : false;

const hex = () => randomBytes(16).toString("hex");

describe("control channel crypto (raw device)", { skip: SKIP }, () => {
  let server: ServerHandle;
  let api: Api;
  let id: RawIdent;
  let raw: RawDevice;
  const NAME = "cc-a";

  const conns = () => api.call<any[]>("GET", `/api/v1/devices/${NAME}/connections`);
  const ping = () => api.request("POST", `/api/v1/devices/${NAME}/ping`, { timeoutMs: 10_000 });
  async function pingOk(): Promise<void> {
    const r = await ping();
    assert.equal(r.status, 200, `ping: ${JSON.stringify(r.body)}`);
  }
  /** Two answered pings: every frame the server published before the second one has arrived. */
  async function barrier(): Promise<void> {
    await pingOk();
    await pingOk();
  }

  before(async () => {
    server = await startServer({ env: { TETHER_WILL_CONFIRM_MS: "1000" } });
    api = server.api;
    const { agent } = await enrollOnline(server, { name: NAME });
    id = readIdent(agent.dataDir);
    assert.equal(await agent.stop(), 0);
    await waitFor(async () => !(await device(api, NAME)).online, "agent gone");
    raw = await RawDevice.connect(id);
    assert.equal(raw.granted, 1);
  });
  after(async () => {
    await raw?.client.endAsync(true);
    await server?.stop();
    await cleanupTempDirs();
  });

  test("a raw device completes a Noise KK handshake, says hello and answers pings", async () => {
    const { session, reply } = await raw.handshake();
    const welcome = JSON.parse(session.handshakePayload.toString("utf8"));
    assert.equal(typeof welcome.rekeySeconds, "number");
    assert.ok(Math.abs(welcome.serverTime - Date.now()) < 60_000);
    assert.ok(!reply.includes("rekeySeconds"), "the welcome travels encrypted");
    const connId = await raw.hello();
    const d = await waitFor(async () => {
      const x = await device(api, NAME);
      return x.online ? x : undefined;
    }, "raw device online");
    assert.equal((d.facts as any)?.hostname, "raw-device", "facts from the hello");
    const c = await conns();
    assert.equal(c[0].connId, connId);
    assert.equal(c[0].disconnectedAt, null);
    await pingOk();
  });

  test("a replayed HandshakeInit and a lower counter get no reply; the session survives", async () => {
    const first = await raw.handshake();
    await raw.hello();
    const second = await raw.handshake();
    await raw.hello();
    await pingOk();
    const replies = () => raw.frames.filter(isType(FrameType.HandshakeReply)).length;
    const n = replies();
    // The first HandshakeInit again, byte for byte.
    await raw.publish(first.hs.frame);
    // A fresh handshake id with a counter below the last accepted one.
    const low = raw.init(BigInt(Date.now()) * 1000n - 5_000_000n);
    await raw.publish(low.frame);
    // A fresh handshake id with the exact counter of the last accepted one.
    const same = startHandshake({
      deviceId: id.deviceId,
      localStatic: id.noise,
      remoteStatic: id.serverNoiseKey,
      counter: raw.lastCounter,
    });
    await raw.publish(same.frame);
    await barrier();
    assert.equal(replies(), n, "no HandshakeReply for replayed, lower or equal counters");
    // The second session is still the one in use.
    assert.ok(raw.session === second.session);
    // A HandshakeInit for another device id (prologue mismatch) is refused as well.
    const foreign = startHandshake({
      deviceId: "dev_aaaaaaaaaaaaaaaaaaaa",
      localStatic: id.noise,
      remoteStatic: id.serverNoiseKey,
      counter: raw.nextCounter(),
    });
    await raw.publish(foreign.frame);
    await barrier();
    assert.equal(replies(), n);
  });

  test("a replayed Data frame is dropped", async () => {
    const before = (await conns()).length;
    const connId = hex();
    const f = raw.helloFrame(connId);
    await raw.publish(f);
    await raw.publish(f);
    raw.connId = connId;
    await barrier();
    const after = await conns();
    assert.equal(after.length, before + 1, "one new connection, not two");
    assert.equal(after[0].connId, connId);
    assert.equal(after.filter((c) => c.connId === connId).length, 1);
  });

  test("tampered, truncated and reflected Data frames are dropped; the session still works", async () => {
    const before = (await conns()).length;
    const good = raw.helloFrame(hex());
    const variants: [string, Buffer][] = [];
    const flip = (i: number) => {
      const b = Buffer.from(good);
      b[i]! ^= 0x01;
      return b;
    };
    variants.push(["ciphertext bit", flip(DATA_HEADER_LEN + 3)]);
    variants.push(["tag bit", flip(good.length - 1)]);
    variants.push(["counter bit", flip(DATA_HEADER_LEN - 1)]);
    variants.push(["direction", flip(2)]);
    variants.push(["truncated tag", good.subarray(0, good.length - 4)]);
    variants.push(["header only", good.subarray(0, DATA_HEADER_LEN)]);
    variants.push(["two bytes", good.subarray(0, 2)]);
    variants.push(["empty", Buffer.alloc(0)]);
    // A frame the server sent down, reflected back up.
    const down = raw.frames.filter(isType(FrameType.Data)).at(-1)!;
    assert.equal(down[2], FrameDirection.Down);
    variants.push(["reflected down frame", down]);
    for (const [, v] of variants) await raw.publish(v);
    await barrier();
    assert.equal((await conns()).length, before, "no hello from a bad frame was accepted");
    // The original, untouched frame still goes through afterwards (its counter was never burnt).
    await raw.publish(good);
    await barrier();
    assert.equal((await conns()).length, before + 1);
  });

  test("a HandshakeInit with version 2 gets a signed Reject naming the supported versions", async () => {
    const f = Buffer.from(raw.init().frame);
    f[0] = 2;
    const from = raw.frames.length;
    await raw.publish(f);
    const rej = await raw.waitFrame(isType(FrameType.Reject), from, "reject");
    const info = verifyReject(rej, id.deviceId, id.serverSignKey);
    assert.equal(info.code, "TETHER_ERR_UNSUPPORTED_VERSION");
    assert.deepEqual(info.supportedVersions, [1]);
    // Bound to this device and to the server key.
    assert.throws(() => verifyReject(rej, "dev_bbbbbbbbbbbbbbbbbbbb", id.serverSignKey));
    assert.throws(() => verifyReject(rej, id.deviceId, generateEd25519().publicKey));
    // The established session is untouched.
    await pingOk();
  });

  test("the broker only ever carries ciphertext on the down topic after the handshake", async () => {
    const from = raw.frames.length;
    const { reply } = await raw.handshake();
    await raw.hello();
    const start = raw.frames.indexOf(reply) + 1;
    const secret = `blind-secret-${hex()}`;
    await pingOk();
    const e = await api.request("POST", `/api/v1/devices/${NAME}/echo`, { data: secret, waitMs: 0 });
    assert.equal(e.status, 200, JSON.stringify(e.body));
    await waitFor(
      () => raw.messages.find((m) => m.t === "echo" && (m.b as any).data === secret),
      "echo delivered",
    );
    await barrier();
    const after = raw.frames.slice(start);
    assert.ok(after.length >= 4, `saw ${after.length} frames`);
    assert.ok(raw.frames.slice(from).length > after.length);
    for (const f of after) {
      assert.equal(f[1], FrameType.Data, "only Data frames after the handshake");
      const s = f.toString("latin1");
      for (const needle of ['"t":"ping"', '"ping"', '"ref"', secret, '"echo"', '"t"']) {
        assert.ok(!s.includes(needle), `plaintext ${needle} visible on the wire`);
      }
    }
  });

  test("a forged will and a stale will are ignored; the genuine current will takes the device offline", async () => {
    await raw.handshake();
    const stale = await raw.hello();
    const current = await raw.hello();
    const oldHello = raw.helloFrame(hex());
    await barrier();
    assert.equal((await conns())[0].connId, current);

    const forged = encodeWill({
      deviceId: id.deviceId,
      connId: Buffer.from(current, "hex"),
      signKey: generateEd25519().privateKey,
    });
    await raw.publish(forged);
    await barrier();
    assert.equal((await device(api, NAME)).online, true, "forged will ignored");

    const staleWill = encodeWill({
      deviceId: id.deviceId,
      connId: Buffer.from(stale, "hex"),
      signKey: id.sign.privateKey,
    });
    await raw.publish(staleWill);
    await barrier();
    assert.equal((await device(api, NAME)).online, true, "stale will ignored");

    // A will signed for another device id does not verify for this one.
    const otherId = encodeWill({
      deviceId: "dev_cccccccccccccccccccc",
      connId: Buffer.from(current, "hex"),
      signKey: id.sign.privateKey,
    });
    await raw.publish(otherId);
    await barrier();
    assert.equal((await device(api, NAME)).online, true, "will bound to another device ignored");

    const genuine = encodeWill({
      deviceId: id.deviceId,
      connId: Buffer.from(current, "hex"),
      signKey: id.sign.privateKey,
    });
    // The server confirms a will of the current connection with a ping (docs/protocol.md §9):
    // play a device that is really gone (an answering one is tests/e2e/abuse/device.test.ts).
    raw.answerPings = false;
    await raw.publish(genuine);
    await waitFor(async () => !(await device(api, NAME)).online, "offline after the genuine will");
    raw.answerPings = true;
    const c = await conns();
    assert.equal(c[0].connId, current);
    assert.equal(c[0].reason, "connection lost");
    const p = await ping();
    assert.equal(p.status, 409);
    assert.equal(p.body.error.code, "TETHER_ERR_DEVICE_OFFLINE");

    // The session died with the will: a hello sealed under it earlier does not revive the device.
    await raw.publish(oldHello);
    await raw.sync();
    assert.equal((await device(api, NAME)).online, false, "old-session hello must not bring it back");
    // The device can always come back properly.
    await raw.handshake();
    await raw.hello();
    await waitFor(async () => (await device(api, NAME)).online, "back online after a new handshake");
    await pingOk();
  });
});
