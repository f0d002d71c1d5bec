// @matrix: once
// Signed plaintext frames: Will, RekeyRequest, Reject (docs/protocol.md §10).
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  FrameType,
  PROTOCOL_VERSION,
  encodeRekeyRequest,
  encodeReject,
  encodeWill,
  ed25519PublicFromPrivate,
  ed25519Sign,
  ed25519Verify,
  fingerprint,
  generateEd25519,
  peekFrame,
  verifyRekeyRequest,
  verifyReject,
  rejectBinding,
  verifyWill,
} from "../src/crypto/index.js";
import { ProtocolError } from "../src/errors.js";

const device = generateEd25519();
const server = generateEd25519();
const other = generateEd25519();
const DEVICE = "dev-0001";

function isCode(code: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return true;
  };
}

function flip(b: Buffer, i: number): Buffer {
  const c = Buffer.from(b);
  c[i]! ^= 0x01;
  return c;
}

test("ed25519 helpers", () => {
  assert.equal(device.publicKey.length, 32);
  assert.equal(device.privateKey.length, 32);
  assert.deepEqual(ed25519PublicFromPrivate(device.privateKey), device.publicKey);
  const sig = ed25519Sign(device.privateKey, Buffer.from("m"));
  assert.equal(sig.length, 64);
  assert.equal(ed25519Verify(device.publicKey, Buffer.from("m"), sig), true);
  assert.equal(ed25519Verify(device.publicKey, Buffer.from("n"), sig), false);
  assert.equal(ed25519Verify(Buffer.alloc(3), Buffer.from("m"), sig), false);
  assert.equal(ed25519Verify(device.publicKey, Buffer.from("m"), Buffer.alloc(10)), false);
  assert.equal(ed25519Verify(Buffer.alloc(32, 0xff), Buffer.from("m"), sig), false);
  assert.equal(fingerprint(device.publicKey).length, 43);
  assert.match(fingerprint(device.publicKey), /^[A-Za-z0-9_-]{43}$/);
});

test("will: round trip", () => {
  const connId = randomBytes(16);
  const f = encodeWill({ deviceId: DEVICE, connId, signKey: device.privateKey });
  assert.equal(f.length, 2 + 16 + 64);
  assert.equal(f[0], PROTOCOL_VERSION);
  assert.equal(f[1], FrameType.Will);
  assert.deepEqual(peekFrame(f), { version: 1, type: FrameType.Will });
  assert.deepEqual(verifyWill(f, DEVICE, device.publicKey), { connId });
});

test("will: forgery, tampering and wrong device are rejected", () => {
  const f = encodeWill({ deviceId: DEVICE, connId: randomBytes(16), signKey: device.privateKey });
  assert.throws(() => verifyWill(f, "dev-0002", device.publicKey), isCode("TETHER_ERR_SIGNATURE"));
  assert.throws(() => verifyWill(f, DEVICE, other.publicKey), isCode("TETHER_ERR_SIGNATURE"));
  const forged = encodeWill({ deviceId: DEVICE, connId: randomBytes(16), signKey: other.privateKey });
  assert.throws(() => verifyWill(forged, DEVICE, device.publicKey), isCode("TETHER_ERR_SIGNATURE"));
  for (const i of [5, 17, 18, 81])
    assert.throws(() => verifyWill(flip(f, i), DEVICE, device.publicKey), isCode("TETHER_ERR_SIGNATURE"));
  assert.throws(
    () => verifyWill(f.subarray(0, 81), DEVICE, device.publicKey),
    isCode("TETHER_ERR_FRAME_MALFORMED"),
  );
  assert.throws(
    () => verifyWill(Buffer.concat([f, Buffer.alloc(1)]), DEVICE, device.publicKey),
    isCode("TETHER_ERR_FRAME_MALFORMED"),
  );
  assert.throws(() => verifyWill(flip(f, 1), DEVICE, device.publicKey), isCode("TETHER_ERR_FRAME_MALFORMED"));
  const v2 = Buffer.from(f);
  v2[0] = 2;
  assert.throws(() => verifyWill(v2, DEVICE, device.publicKey), isCode("TETHER_ERR_UNSUPPORTED_VERSION"));
  assert.throws(() => encodeWill({ deviceId: DEVICE, connId: randomBytes(15), signKey: device.privateKey }));
});

test("rekey request: round trip", () => {
  for (const seq of [0n, 1n, 123456789n, (1n << 64n) - 1n]) {
    const f = encodeRekeyRequest({ deviceId: DEVICE, seq, signKey: server.privateKey });
    assert.equal(f.length, 2 + 8 + 64);
    assert.equal(f[1], FrameType.RekeyRequest);
    assert.deepEqual(verifyRekeyRequest(f, DEVICE, server.publicKey), { seq });
  }
});

test("rekey request: forgery, tampering and wrong device are rejected", () => {
  const f = encodeRekeyRequest({ deviceId: DEVICE, seq: 9n, signKey: server.privateKey });
  assert.throws(() => verifyRekeyRequest(f, "dev-0002", server.publicKey), isCode("TETHER_ERR_SIGNATURE"));
  // signed by the device instead of the server
  const byDevice = encodeRekeyRequest({ deviceId: DEVICE, seq: 9n, signKey: device.privateKey });
  assert.throws(() => verifyRekeyRequest(byDevice, DEVICE, server.publicKey), isCode("TETHER_ERR_SIGNATURE"));
  for (const i of [2, 9, 10, 73])
    assert.throws(
      () => verifyRekeyRequest(flip(f, i), DEVICE, server.publicKey),
      isCode("TETHER_ERR_SIGNATURE"),
    );
  assert.throws(
    () => verifyRekeyRequest(f.subarray(0, 40), DEVICE, server.publicKey),
    isCode("TETHER_ERR_FRAME_MALFORMED"),
  );
  assert.throws(() => encodeRekeyRequest({ deviceId: DEVICE, seq: -1n, signKey: server.privateKey }));
});

test("reject: round trip", () => {
  const f = encodeReject({
    deviceId: DEVICE,
    code: "TETHER_ERR_DEVICE_REVOKED",
    message: "revoked — bye",
    init: Buffer.from("a handshake init"),
    signKey: server.privateKey,
  });
  assert.equal(f[0], PROTOCOL_VERSION);
  assert.equal(f[1], FrameType.Reject);
  const r = verifyReject(f, DEVICE, server.publicKey);
  assert.equal(r.code, "TETHER_ERR_DEVICE_REVOKED");
  assert.equal(r.message, "revoked — bye");
  assert.deepEqual(r.supportedVersions, [1]);
  assert.equal(r.version, 1);
  assert.equal(r.init, rejectBinding(Buffer.from("a handshake init")));
});

test("reject: bound to the HandshakeInit it answers, and the binding is signed", () => {
  const init = randomBytes(66);
  const f = encodeReject({
    deviceId: DEVICE,
    code: "TETHER_ERR_UNSUPPORTED_VERSION",
    message: "x",
    init,
    signKey: server.privateKey,
  });
  const r = verifyReject(f, DEVICE, server.publicKey);
  assert.equal(r.init, rejectBinding(init));
  assert.notEqual(r.init, rejectBinding(randomBytes(66)));
  // Rewriting the binding inside the JSON breaks the signature.
  const i = f.indexOf(Buffer.from(r.init!));
  const forged = Buffer.from(f);
  forged[i] = forged[i] === 0x61 ? 0x62 : 0x61;
  assert.throws(() => verifyReject(forged, DEVICE, server.publicKey), isCode("TETHER_ERR_SIGNATURE"));
});

test("reject: forgery, tampering and wrong device are rejected", () => {
  const f = encodeReject({
    deviceId: DEVICE,
    code: "TETHER_ERR_UNSUPPORTED_VERSION",
    message: "upgrade",
    init: randomBytes(66),
    signKey: server.privateKey,
  });
  assert.throws(() => verifyReject(f, "dev-0002", server.publicKey), isCode("TETHER_ERR_SIGNATURE"));
  assert.throws(() => verifyReject(f, DEVICE, other.publicKey), isCode("TETHER_ERR_SIGNATURE"));
  for (const i of [0, 6, 20, f.length - 1])
    assert.throws(() => verifyReject(flip(f, i), DEVICE, server.publicKey), isCode("TETHER_ERR_SIGNATURE"));
  // length field changed → framing no longer matches
  assert.throws(
    () => verifyReject(flip(f, 3), DEVICE, server.publicKey),
    isCode("TETHER_ERR_FRAME_MALFORMED"),
  );
  assert.throws(
    () => verifyReject(f.subarray(0, 60), DEVICE, server.publicKey),
    isCode("TETHER_ERR_FRAME_MALFORMED"),
  );
  // a will cannot pass as a reject, nor a rekey as a will (different labels and types)
  const will = encodeWill({ deviceId: DEVICE, connId: randomBytes(16), signKey: server.privateKey });
  assert.throws(
    () => verifyRekeyRequest(will, DEVICE, server.publicKey),
    isCode("TETHER_ERR_FRAME_MALFORMED"),
  );
  const relabelled = Buffer.from(will);
  relabelled[1] = FrameType.RekeyRequest;
  assert.throws(
    () => verifyRekeyRequest(relabelled, DEVICE, server.publicKey),
    isCode("TETHER_ERR_FRAME_MALFORMED"),
  );
});

test("reject from a server on another version is still readable", () => {
  // Simulate a future server (version 7) signing its Reject with its own version byte.
  const json = Buffer.from(
    JSON.stringify({ code: "TETHER_ERR_UNSUPPORTED_VERSION", message: "need v7", supportedVersions: [7] }),
  );
  const body = Buffer.concat([
    Buffer.from([7, FrameType.Reject, json.length >> 8, json.length & 0xff]),
    json,
  ]);
  const sig = ed25519Sign(
    server.privateKey,
    Buffer.concat([Buffer.from("tether-reject-v1"), body, Buffer.from(DEVICE)]),
  );
  const f = Buffer.concat([body, sig]);
  assert.equal(peekFrame(f).version, 7);
  const r = verifyReject(f, DEVICE, server.publicKey);
  assert.deepEqual(r, {
    version: 7,
    code: "TETHER_ERR_UNSUPPORTED_VERSION",
    message: "need v7",
    supportedVersions: [7],
  });
});

test("reject with a signed but malformed body is MALFORMED", () => {
  const json = Buffer.from(JSON.stringify({ code: 1, message: "x" }));
  const body = Buffer.concat([Buffer.from([1, FrameType.Reject, 0, json.length]), json]);
  const sig = ed25519Sign(
    server.privateKey,
    Buffer.concat([Buffer.from("tether-reject-v1"), body, Buffer.from(DEVICE)]),
  );
  assert.throws(
    () => verifyReject(Buffer.concat([body, sig]), DEVICE, server.publicKey),
    isCode("TETHER_ERR_FRAME_MALFORMED"),
  );
});
