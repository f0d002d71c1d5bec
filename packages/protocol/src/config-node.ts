/**
 * Remote configuration, Node-only parts (docs/protocol.md §18.3–18.4): the effective
 * configuration's hash, and secret files sealed to one device's static X25519 key so that
 * their HTTPS fetch carries only ciphertext.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";
import { canonicalJson } from "./canonical.js";
import { generateX25519, x25519 } from "./crypto/keys.js";

export const sha256Hex = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");

/** SHA-256 over canonical JSON of `{files: [[path, hash], …] sorted by path, values}`, hex. */
export function configHash(values: unknown, files: readonly { path: string; hash: string }[]): string {
  const f = files.map((x) => [x.path, x.hash]).sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : 1));
  return sha256Hex(canonicalJson({ files: f, values }));
}

const MAGIC = Buffer.from("TCS1");
const INFO = Buffer.from("tether config secret file v1");

function keyFor(shared: Buffer, ephPub: Buffer, devicePub: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", shared, Buffer.concat([ephPub, devicePub]), INFO, 32));
}

/**
 * Encrypt `plaintext` to a device's static X25519 public key: `TCS1 ‖ ephemeral public (32) ‖
 * nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16)`, the key from HKDF-SHA256 over X25519(eph,
 * device), the plaintext's hash (hex) as associated data.
 */
export function sealForDevice(devicePub: Buffer, plaintext: Buffer, hash: string): Buffer {
  const eph = generateX25519();
  const key = keyFor(x25519(eph.privateKey, devicePub), eph.publicKey, devicePub);
  const nonce = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", key, nonce);
  c.setAAD(Buffer.from(hash));
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([MAGIC, eph.publicKey, nonce, body, c.getAuthTag()]);
}

/** Open what sealForDevice made, with the device's static private key; throws when it does not authenticate. */
export function openSealed(devicePriv: Buffer, devicePub: Buffer, sealed: Buffer, hash: string): Buffer {
  if (sealed.length < 4 + 32 + 12 + 16 || !sealed.subarray(0, 4).equals(MAGIC))
    throw new Error("not a sealed config file");
  const ephPub = sealed.subarray(4, 36);
  const nonce = sealed.subarray(36, 48);
  const tag = sealed.subarray(sealed.length - 16);
  const key = keyFor(x25519(devicePriv, ephPub), ephPub, devicePub);
  const d = createDecipheriv("aes-256-gcm", key, nonce);
  d.setAAD(Buffer.from(hash));
  d.setAuthTag(tag);
  return Buffer.concat([d.update(sealed.subarray(48, sealed.length - 16)), d.final()]);
}
