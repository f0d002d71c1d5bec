// @matrix: once
// Handshake (docs/protocol.md §4) and Data frames (§5) between an agent and the server.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  FrameType,
  PROTOCOL_VERSION,
  SUPPORTED_VERSIONS,
  generateX25519,
  peekFrame,
  respondHandshake,
  startHandshake,
  type KeyPair,
  type Session,
} from "../src/crypto/index.js";
import { ProtocolError } from "../src/errors.js";

const agentKey = generateX25519();
const serverKey = generateX25519();
const DEVICE = "dev-0001";

function isCode(code: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return true;
  };
}

function isOneOf(...codes: string[]) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${String(err)}`);
    assert.ok(codes.includes(err.code), `expected one of ${codes.join(",")}, got ${err.code}`);
    return true;
  };
}

function handshake(
  o: { deviceId?: string; agent?: KeyPair; server?: KeyPair; counter?: bigint; payload?: Buffer } = {},
): { agent: Session; server: Session; counter: bigint; init: Buffer; reply: Buffer } {
  const deviceId = o.deviceId ?? DEVICE;
  const pending = startHandshake({
    deviceId,
    localStatic: o.agent ?? agentKey,
    remoteStatic: (o.server ?? serverKey).publicKey,
    counter: o.counter ?? 1n,
  });
  const res = respondHandshake({
    deviceId,
    localStatic: o.server ?? serverKey,
    remoteStatic: (o.agent ?? agentKey).publicKey,
    frame: pending.frame,
    payload: o.payload,
  });
  assert.deepEqual(res.handshakeId, pending.handshakeId);
  const agent = pending.finish(res.reply);
  return { agent, server: res.session, counter: res.counter, init: pending.frame, reply: res.reply };
}

test("full handshake, then bidirectional data", () => {
  const { agent, server, counter } = handshake({ counter: 42n, payload: Buffer.from("hello agent") });
  assert.equal(counter, 42n);
  assert.equal(agent.role, "initiator");
  assert.equal(server.role, "responder");
  assert.equal(agent.deviceId, DEVICE);
  assert.equal(agent.handshakePayload.toString(), "hello agent");
  for (let i = 0; i < 5; i++) {
    const up = agent.seal(Buffer.from(`up ${i}`));
    assert.equal(server.open(up).toString(), `up ${i}`);
    const down = server.seal(Buffer.from(`down ${i}`));
    assert.equal(agent.open(down).toString(), `down ${i}`);
  }
  assert.equal(agent.sendCounter, 5n);
  assert.equal(server.sendCounter, 5n);
  assert.equal(server.open(agent.seal(Buffer.alloc(0))).length, 0);
});

test("frame layout: headers, keyId, counter, peekFrame", () => {
  const pending = startHandshake({
    deviceId: DEVICE,
    localStatic: agentKey,
    remoteStatic: serverKey.publicKey,
    counter: 7n,
    handshakeId: Buffer.from("0102030405060708", "hex"),
  });
  assert.equal(pending.frame[0], PROTOCOL_VERSION);
  assert.equal(pending.frame[1], FrameType.HandshakeInit);
  assert.equal(pending.frame.length, 2 + 8 + 32 + 8 + 16);
  assert.deepEqual(peekFrame(pending.frame), {
    version: 1,
    type: FrameType.HandshakeInit,
    handshakeId: Buffer.from("0102030405060708", "hex"),
  });
  const res = respondHandshake({
    deviceId: DEVICE,
    localStatic: serverKey,
    remoteStatic: agentKey.publicKey,
    frame: pending.frame,
  });
  assert.equal(res.reply[1], FrameType.HandshakeReply);
  assert.equal(res.reply.length, 2 + 8 + 32 + 16);
  const agent = pending.finish(res.reply);
  agent.seal(Buffer.from("x"));
  const f = agent.seal(Buffer.from("abc"));
  assert.equal(f.length, 19 + 3 + 16);
  assert.equal(f[0], 1);
  assert.equal(f[1], FrameType.Data);
  assert.equal(f[2], 0);
  assert.deepEqual(f.subarray(3, 11), agent.keyId);
  assert.equal(f.readBigUInt64BE(11), 1n);
  assert.deepEqual(peekFrame(f), { version: 1, type: FrameType.Data, keyId: agent.keyId });
  const d = res.session.seal(Buffer.from("z"));
  assert.equal(d[2], 1);
  assert.equal(d.readBigUInt64BE(11), 0n);
  assert.deepEqual(SUPPORTED_VERSIONS, [1]);
});

test("keyId is equal on both sides and differs between handshakes", () => {
  const a = handshake();
  const b = handshake();
  assert.equal(a.agent.keyId.length, 8);
  assert.deepEqual(a.agent.keyId, a.server.keyId);
  assert.deepEqual(b.agent.keyId, b.server.keyId);
  assert.notDeepEqual(a.agent.keyId, b.agent.keyId);
  // frames of one session do not open under another
  assert.throws(() => b.server.open(a.agent.seal(Buffer.from("x"))), isCode("TETHER_ERR_UNKNOWN_KEY"));
});

test("a replayed data frame is rejected", () => {
  const { agent, server } = handshake();
  const f = agent.seal(Buffer.from("reboot"));
  assert.equal(server.open(f).toString(), "reboot");
  assert.throws(() => server.open(f), isCode("TETHER_ERR_REPLAY"));
  const g = server.seal(Buffer.from("ok"));
  agent.open(g);
  assert.throws(() => agent.open(g), isCode("TETHER_ERR_REPLAY"));
});

test("reordering within the window is accepted, beyond the window rejected", () => {
  const { agent, server } = handshake();
  const frames = Array.from({ length: 1100 }, (_, i) => agent.seal(Buffer.from(String(i))));
  // deliver 1..1099, then 0 (too old: window is 1024 behind the highest)
  for (let i = 1099; i >= 80; i--) assert.equal(server.open(frames[i]!).toString(), String(i));
  assert.throws(() => server.open(frames[75]!), isCode("TETHER_ERR_REPLAY"));
  assert.throws(() => server.open(frames[0]!), isCode("TETHER_ERR_REPLAY"));
  assert.equal(server.open(frames[76]!).toString(), "76");
  for (let i = 80; i < 1100; i += 97)
    assert.throws(() => server.open(frames[i]!), isCode("TETHER_ERR_REPLAY"));
});

test("a rejected (tampered) frame does not burn its counter", () => {
  const { agent, server } = handshake();
  const f = agent.seal(Buffer.from("payload"));
  const bad = Buffer.from(f);
  bad[bad.length - 1]! ^= 0x80;
  assert.throws(() => server.open(bad), isCode("TETHER_ERR_DECRYPT"));
  assert.equal(server.open(f).toString(), "payload");
});

test("tampering with ciphertext, tag, header or keyId is rejected", () => {
  const { agent, server } = handshake();
  const f = agent.seal(Buffer.from("set config"));
  const flip = (i: number): Buffer => {
    const b = Buffer.from(f);
    b[i]! ^= 0x01;
    return b;
  };
  assert.throws(() => server.open(flip(19)), isCode("TETHER_ERR_DECRYPT")); // ciphertext
  assert.throws(() => server.open(flip(f.length - 1)), isCode("TETHER_ERR_DECRYPT")); // tag
  assert.throws(() => server.open(flip(18)), isCode("TETHER_ERR_DECRYPT")); // counter
  assert.throws(() => server.open(flip(5)), isCode("TETHER_ERR_UNKNOWN_KEY")); // keyId
  assert.throws(() => server.open(flip(2)), isCode("TETHER_ERR_FRAME_MALFORMED")); // direction
  assert.throws(() => server.open(flip(1)), isOneOf("TETHER_ERR_FRAME_MALFORMED")); // type
  assert.equal(server.open(f).toString(), "set config");
});

test("truncated frames are rejected", () => {
  const { agent, server } = handshake();
  const f = agent.seal(Buffer.from("hello"));
  for (const len of [0, 1, 2, 10, 18, 19, 20, 19 + 15, f.length - 1]) {
    assert.throws(
      () => server.open(f.subarray(0, len)),
      isOneOf("TETHER_ERR_FRAME_MALFORMED", "TETHER_ERR_DECRYPT"),
      `length ${len}`,
    );
  }
  assert.throws(() => peekFrame(Buffer.alloc(1)), isCode("TETHER_ERR_FRAME_MALFORMED"));
  assert.throws(() => peekFrame(f.subarray(0, 12)), isCode("TETHER_ERR_FRAME_MALFORMED"));
  assert.throws(() => peekFrame(Buffer.from([1, 99])), isCode("TETHER_ERR_FRAME_MALFORMED"));
  assert.equal(server.open(f).toString(), "hello");
});

test("a frame moved to another device's topic fails (deviceId is associated data)", () => {
  const pending = startHandshake({
    deviceId: DEVICE,
    localStatic: agentKey,
    remoteStatic: serverKey.publicKey,
    counter: 1n,
  });
  // the server believes the frame came from another device: prologue differs → handshake fails
  assert.throws(
    () =>
      respondHandshake({
        deviceId: "dev-0002",
        localStatic: serverKey,
        remoteStatic: agentKey.publicKey,
        frame: pending.frame,
      }),
    isCode("TETHER_ERR_HANDSHAKE"),
  );
  // data frame: a twin of the server session with the same keys but another device id
  // (what a broker achieves by republishing the frame on another device's topic)
  const { agent, server } = handshake();
  const f = agent.seal(Buffer.from("cmd"));
  const Ctor = server.constructor as new (init: unknown) => Session;
  const internals = server as unknown as { handshakeHash: Buffer; sendKey: Buffer; recvKey: Buffer };
  const twin = new Ctor({
    role: "responder",
    deviceId: "dev-0002",
    handshakeHash: internals.handshakeHash,
    sendKey: internals.sendKey,
    recvKey: internals.recvKey,
  });
  assert.deepEqual(twin.keyId, server.keyId);
  assert.throws(() => twin.open(f), isCode("TETHER_ERR_DECRYPT"));
  assert.equal(server.open(f).toString(), "cmd");
});

test("wrong direction is rejected (a session cannot open its own frames)", () => {
  const { agent, server } = handshake();
  const up = agent.seal(Buffer.from("x"));
  assert.throws(() => agent.open(up), isCode("TETHER_ERR_FRAME_MALFORMED"));
  const down = server.seal(Buffer.from("y"));
  assert.throws(() => server.open(down), isCode("TETHER_ERR_FRAME_MALFORMED"));
  // forcing the direction byte over to the peer's value breaks authentication
  const forced = Buffer.from(up);
  forced[2] = 1;
  assert.throws(() => agent.open(forced), isCode("TETHER_ERR_DECRYPT"));
});

test("handshake with a wrong static key fails", () => {
  const mallory = generateX25519();
  // server does not know this device key
  const p1 = startHandshake({
    deviceId: DEVICE,
    localStatic: mallory,
    remoteStatic: serverKey.publicKey,
    counter: 1n,
  });
  assert.throws(
    () =>
      respondHandshake({
        deviceId: DEVICE,
        localStatic: serverKey,
        remoteStatic: agentKey.publicKey,
        frame: p1.frame,
      }),
    isCode("TETHER_ERR_HANDSHAKE"),
  );
  // agent pinned another server key
  const p2 = startHandshake({
    deviceId: DEVICE,
    localStatic: agentKey,
    remoteStatic: mallory.publicKey,
    counter: 1n,
  });
  assert.throws(
    () =>
      respondHandshake({
        deviceId: DEVICE,
        localStatic: serverKey,
        remoteStatic: agentKey.publicKey,
        frame: p2.frame,
      }),
    isCode("TETHER_ERR_HANDSHAKE"),
  );
  // an impostor server answering a genuine init (knows agent pub, not the server private key)
  const p3 = startHandshake({
    deviceId: DEVICE,
    localStatic: agentKey,
    remoteStatic: serverKey.publicKey,
    counter: 1n,
  });
  assert.throws(
    () =>
      respondHandshake({
        deviceId: DEVICE,
        localStatic: mallory,
        remoteStatic: agentKey.publicKey,
        frame: p3.frame,
      }),
    isCode("TETHER_ERR_HANDSHAKE"),
  );
});

test("finish rejects a reply with another handshakeId or a bad MAC, and stays usable", () => {
  const pending = startHandshake({
    deviceId: DEVICE,
    localStatic: agentKey,
    remoteStatic: serverKey.publicKey,
    counter: 3n,
  });
  const res = respondHandshake({
    deviceId: DEVICE,
    localStatic: serverKey,
    remoteStatic: agentKey.publicKey,
    frame: pending.frame,
  });
  const otherId = Buffer.from(res.reply);
  otherId[4]! ^= 0xff;
  assert.throws(() => pending.finish(otherId), isCode("TETHER_ERR_HANDSHAKE"));
  const badMac = Buffer.from(res.reply);
  badMac[badMac.length - 1]! ^= 0x01;
  assert.throws(() => pending.finish(badMac), isCode("TETHER_ERR_HANDSHAKE"));
  // a reply for a different handshake (other session) with its id patched
  const other = handshake();
  const spliced = Buffer.concat([res.reply.subarray(0, 10), other.reply.subarray(10)]);
  assert.throws(() => pending.finish(spliced), isCode("TETHER_ERR_HANDSHAKE"));
  const agent = pending.finish(res.reply);
  assert.equal(res.session.open(agent.seal(Buffer.from("ok"))).toString(), "ok");
  assert.throws(() => pending.finish(res.reply), isCode("TETHER_ERR_HANDSHAKE"));
});

test("a replayed HandshakeInit yields the same counter, so the caller can refuse it", () => {
  const pending = startHandshake({
    deviceId: DEVICE,
    localStatic: agentKey,
    remoteStatic: serverKey.publicKey,
    counter: 1000n,
  });
  const first = respondHandshake({
    deviceId: DEVICE,
    localStatic: serverKey,
    remoteStatic: agentKey.publicKey,
    frame: pending.frame,
  });
  const replay = respondHandshake({
    deviceId: DEVICE,
    localStatic: serverKey,
    remoteStatic: agentKey.publicKey,
    frame: pending.frame,
  });
  assert.equal(first.counter, 1000n);
  assert.equal(replay.counter, 1000n);
  assert.deepEqual(replay.handshakeId, first.handshakeId);
  // the replayer has no agent keys, so it cannot use the server's new session
  const agent = pending.finish(first.reply);
  assert.throws(() => replay.session.open(agent.seal(Buffer.from("x"))), isCode("TETHER_ERR_UNKNOWN_KEY"));
  // counters are carried exactly, up to 2^64-1
  const big = startHandshake({
    deviceId: DEVICE,
    localStatic: agentKey,
    remoteStatic: serverKey.publicKey,
    counter: (1n << 64n) - 1n,
  });
  assert.equal(
    respondHandshake({
      deviceId: DEVICE,
      localStatic: serverKey,
      remoteStatic: agentKey.publicKey,
      frame: big.frame,
    }).counter,
    (1n << 64n) - 1n,
  );
});

test("tampered HandshakeInit (id, ephemeral, payload) is rejected", () => {
  const pending = startHandshake({
    deviceId: DEVICE,
    localStatic: agentKey,
    remoteStatic: serverKey.publicKey,
    counter: 5n,
  });
  for (const i of [3, 12, pending.frame.length - 20, pending.frame.length - 1]) {
    const b = Buffer.from(pending.frame);
    b[i]! ^= 0x01;
    assert.throws(
      () =>
        respondHandshake({
          deviceId: DEVICE,
          localStatic: serverKey,
          remoteStatic: agentKey.publicKey,
          frame: b,
        }),
      isCode("TETHER_ERR_HANDSHAKE"),
      `byte ${i}`,
    );
  }
  assert.throws(
    () =>
      respondHandshake({
        deviceId: DEVICE,
        localStatic: serverKey,
        remoteStatic: agentKey.publicKey,
        frame: pending.frame.subarray(0, 30),
      }),
    isOneOf("TETHER_ERR_HANDSHAKE", "TETHER_ERR_FRAME_MALFORMED"),
  );
  const wrongType = Buffer.from(pending.frame);
  wrongType[1] = FrameType.HandshakeReply;
  assert.throws(
    () =>
      respondHandshake({
        deviceId: DEVICE,
        localStatic: serverKey,
        remoteStatic: agentKey.publicKey,
        frame: wrongType,
      }),
    isCode("TETHER_ERR_FRAME_MALFORMED"),
  );
});

test("unsupported version byte → UNSUPPORTED_VERSION", () => {
  const pending = startHandshake({
    deviceId: DEVICE,
    localStatic: agentKey,
    remoteStatic: serverKey.publicKey,
    counter: 1n,
  });
  const v2 = Buffer.from(pending.frame);
  v2[0] = 2;
  assert.equal(peekFrame(v2).version, 2);
  assert.throws(
    () =>
      respondHandshake({
        deviceId: DEVICE,
        localStatic: serverKey,
        remoteStatic: agentKey.publicKey,
        frame: v2,
      }),
    isCode("TETHER_ERR_UNSUPPORTED_VERSION"),
  );
  const res = respondHandshake({
    deviceId: DEVICE,
    localStatic: serverKey,
    remoteStatic: agentKey.publicKey,
    frame: pending.frame,
  });
  const r0 = Buffer.from(res.reply);
  r0[0] = 0;
  assert.throws(() => pending.finish(r0), isCode("TETHER_ERR_UNSUPPORTED_VERSION"));
  const agent = pending.finish(res.reply);
  const f = agent.seal(Buffer.from("x"));
  f[0] = 9;
  assert.throws(() => res.session.open(f), isCode("TETHER_ERR_UNSUPPORTED_VERSION"));
});
