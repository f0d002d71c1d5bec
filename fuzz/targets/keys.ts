/** Fixed keys and one fixed handshake, so stored corpus frames reach past the key checks every run. */
import {
  type KeyPair,
  respondHandshake,
  type Session,
  startHandshake,
  x25519PublicFromPrivate,
  ed25519PublicFromPrivate,
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
