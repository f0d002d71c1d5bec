/** Fixed keys and one fixed handshake, so stored corpus frames reach past the key checks every run. */
import {
  type KeyPair,
  respondHandshake,
  type Session,
  startHandshake,
  x25519PublicFromPrivate,
  ed25519PublicFromPrivate,
  ed25519Sign,
  LABEL_ENROLL,
  signedBytes,
} from "@tether/protocol";

const fixed = (byte: number) => Buffer.alloc(32, byte);
const x = (byte: number): KeyPair => {
  const privateKey = fixed(byte);
  return { privateKey, publicKey: x25519PublicFromPrivate(privateKey) };
};

export const DEVICE_ID = "dev_fuzz0000000000000000";
export const deviceStatic = x(1);
export const serverStatic = x(2);
export const deviceEphemeral = x(3);
export const serverEphemeral = x(4);
export const HANDSHAKE_ID = Buffer.from("0102030405060708", "hex");
/** Ed25519 signing keys (private seeds) of the device and the server. */
export const deviceSign = { privateKey: fixed(5), publicKey: ed25519PublicFromPrivate(fixed(5)) };
export const serverSign = { privateKey: fixed(6), publicKey: ed25519PublicFromPrivate(fixed(6)) };

export function initiator() {
  return startHandshake({
    deviceId: DEVICE_ID,
    localStatic: deviceStatic,
    remoteStatic: serverStatic.publicKey,
    counter: 7n,
    handshakeId: HANDSHAKE_ID,
    ephemeral: deviceEphemeral,
  });
}

export function responder(frame: Buffer) {
  return respondHandshake({
    deviceId: DEVICE_ID,
    localStatic: serverStatic,
    remoteStatic: deviceStatic.publicKey,
    frame,
    payload: Buffer.from('{"welcome":1}'),
    ephemeral: serverEphemeral,
  });
}

/** The fixed handshake: its two frames and both ends' sessions (fresh replay windows). */
export function handshake(): { init: Buffer; reply: Buffer; device: Session; server: Session } {
  const pending = initiator();
  const r = responder(pending.frame);
  return { init: pending.frame, reply: r.reply, device: pending.finish(r.reply), server: r.session };
}

/** A fixed 32-byte key (every byte `n`), base64url: 43 characters. */
export const key43 = (n: number) => Buffer.alloc(32, n).toString("base64url");

/** `body` signed under `label` with the device's key, as the agent sends it. */
export function deviceSigned<T extends object>(label: string, body: T): { body: T; signature: string } {
  return {
    body,
    signature: ed25519Sign(deviceSign.privateKey, signedBytes(label, body)).toString("base64url"),
  };
}

/** A valid, signed POST /enroll body: token, EnrollRequest of robot-7 and the device's signature. */
export function enrollBody() {
  const { body: request, signature } = deviceSigned(LABEL_ENROLL, {
    purpose: LABEL_ENROLL,
    tokenHash: key43(1),
    serverFingerprint: key43(2),
    signKey: deviceSign.publicKey.toString("base64url"),
    noiseKey: key43(3),
    name: "robot-7",
    facts: {
      os: "linux",
      osRelease: "6.1",
      kernel: "6.1.0",
      arch: "x64",
      hostname: "robot-7",
      addresses: ["10.0.0.7"],
      cpus: 4,
      memoryBytes: 8 << 30,
      agentVersion: "0.1.0",
    },
  });
  return { token: `tether1.${key43(2)}.${key43(5)}`, request, signature };
}
