// @matrix: once
// Runs the cacophony vectors for every supported fundamental pattern (DESIGN §3).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  HandshakeState,
  PATTERNS,
  isOneWayPattern,
  x25519PublicFromPrivate,
  type CipherState,
  type KeyPair,
} from "../src/crypto/index.js";

interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_static?: string;
  init_ephemeral: string;
  init_remote_static?: string;
  init_psks?: string[];
  resp_prologue: string;
  resp_static?: string;
  resp_ephemeral?: string;
  resp_remote_static?: string;
  resp_psks?: string[];
  handshake_hash: string;
  messages: { payload: string; ciphertext: string }[];
}

const fixture = JSON.parse(
  readFileSync(fileURLToPath(new URL("./fixtures/noise-25519-aesgcm-sha256.json", import.meta.url)), "utf8"),
) as { vectors: Vector[] };

const hex = (s: string): Buffer => Buffer.from(s, "hex");
const kp = (privHex: string | undefined): KeyPair | undefined =>
  privHex ? { privateKey: hex(privHex), publicKey: x25519PublicFromPrivate(hex(privHex)) } : undefined;

const NAME_RE = /^Noise_([A-Z0-9]+)_25519_AESGCM_SHA256$/;
const supported = fixture.vectors.filter((v) => {
  const m = NAME_RE.exec(v.protocol_name);
  return m !== null && m[1]! in PATTERNS;
});

test("fixture contains supported vectors, including KK", () => {
  assert.ok(supported.length >= 15, `only ${supported.length} supported vectors`);
  assert.ok(supported.some((v) => v.protocol_name === "Noise_KK_25519_AESGCM_SHA256"));
  const patterns = new Set(supported.map((v) => NAME_RE.exec(v.protocol_name)![1]));
  for (const name of Object.keys(PATTERNS)) assert.ok(patterns.has(name), `no vector for ${name}`);
});

for (const v of supported) {
  test(v.protocol_name, () => {
    const patternName = NAME_RE.exec(v.protocol_name)![1]!;
    const pattern = PATTERNS[patternName]!;
    const init = new HandshakeState({
      pattern: patternName,
      initiator: true,
      prologue: hex(v.init_prologue),
      s: kp(v.init_static),
      e: kp(v.init_ephemeral),
      rs: v.init_remote_static ? hex(v.init_remote_static) : undefined,
    });
    const resp = new HandshakeState({
      pattern: patternName,
      initiator: false,
      prologue: hex(v.resp_prologue),
      s: kp(v.resp_static),
      e: kp(v.resp_ephemeral),
      rs: v.resp_remote_static ? hex(v.resp_remote_static) : undefined,
    });
    assert.equal(init.protocolName, v.protocol_name);

    const hsCount = pattern.messages.length;
    assert.ok(v.messages.length >= hsCount);
    let i = 0;
    for (; i < hsCount; i++) {
      const m = v.messages[i]!;
      const [w, r] = i % 2 === 0 ? [init, resp] : [resp, init];
      const ct = w.writeMessage(hex(m.payload));
      assert.equal(ct.toString("hex"), m.ciphertext, `handshake message ${i}`);
      assert.equal(r.readMessage(ct).toString("hex"), m.payload, `handshake payload ${i}`);
    }
    assert.ok(init.isComplete && resp.isComplete);
    assert.equal(init.getHandshakeHash().toString("hex"), v.handshake_hash);
    assert.equal(resp.getHandshakeHash().toString("hex"), v.handshake_hash);

    const [ic1, ic2] = init.split();
    const [rc1, rc2] = resp.split();
    const oneWay = isOneWayPattern(pattern);
    for (; i < v.messages.length; i++) {
      const m = v.messages[i]!;
      // cacophony: one-way patterns send only initiator→responder; interactive ones keep
      // alternating by message index (even = initiator).
      const fromInitiator = oneWay || i % 2 === 0;
      const [send, recv]: [CipherState, CipherState] = fromInitiator ? [ic1, rc1] : [rc2, ic2];
      const ct = send.encryptWithAd(Buffer.alloc(0), hex(m.payload));
      assert.equal(ct.toString("hex"), m.ciphertext, `transport message ${i}`);
      assert.equal(recv.decryptWithAd(Buffer.alloc(0), ct).toString("hex"), m.payload);
    }
  });
}

test("a tampered handshake message is rejected and leaves the state usable", () => {
  const v = supported.find((x) => x.protocol_name === "Noise_KK_25519_AESGCM_SHA256")!;
  const mk = (initiator: boolean): HandshakeState =>
    new HandshakeState({
      pattern: "KK",
      initiator,
      prologue: hex(v.init_prologue),
      s: kp(initiator ? v.init_static : v.resp_static),
      e: kp(initiator ? v.init_ephemeral : v.resp_ephemeral),
      rs: hex(initiator ? v.init_remote_static! : v.resp_remote_static!),
    });
  const init = mk(true);
  const resp = mk(false);
  const msg1 = init.writeMessage(hex(v.messages[0]!.payload));
  const bad = Buffer.from(msg1);
  bad[bad.length - 1]! ^= 1;
  assert.throws(() => resp.readMessage(bad));
  assert.throws(() => resp.readMessage(msg1.subarray(0, 20)));
  assert.equal(resp.readMessage(msg1).toString("hex"), v.messages[0]!.payload);
  const msg2 = resp.writeMessage(hex(v.messages[1]!.payload));
  assert.equal(msg2.toString("hex"), v.messages[1]!.ciphertext);
});
