// Raw-key wrappers over node:crypto for X25519 (Noise DH) and Ed25519 (signatures).
// Keys travel and are stored as raw 32-byte buffers; node:crypto wants KeyObjects,
// so we wrap/unwrap them with the fixed DER prefixes of RFC 8410.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from "node:crypto";

export interface KeyPair {
  publicKey: Buffer;
  privateKey: Buffer;
}

const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const X25519_SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

function assertLen(b: Buffer, len: number, what: string): void {
  if (!Buffer.isBuffer(b) || b.length !== len) throw new TypeError(`${what} must be ${len} bytes`);
}

function privKey(prefix: Buffer, raw: Buffer, what: string): KeyObject {
  assertLen(raw, 32, what);
  return createPrivateKey({ key: Buffer.concat([prefix, raw]), format: "der", type: "pkcs8" });
}

function pubKey(prefix: Buffer, raw: Buffer, what: string): KeyObject {
  assertLen(raw, 32, what);
  return createPublicKey({ key: Buffer.concat([prefix, raw]), format: "der", type: "spki" });
}

function rawPublic(k: KeyObject): Buffer {
  const jwk = k.export({ format: "jwk" });
  return Buffer.from(jwk.x as string, "base64url");
}

function rawPrivate(k: KeyObject): Buffer {
  const jwk = k.export({ format: "jwk" });
  return Buffer.from(jwk.d as string, "base64url");
}

export function generateX25519(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("x25519");
  return { publicKey: rawPublic(publicKey), privateKey: rawPrivate(privateKey) };
}

export function generateEd25519(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  return { publicKey: rawPublic(publicKey), privateKey: rawPrivate(privateKey) };
}

export function x25519PublicFromPrivate(priv: Buffer): Buffer {
  return rawPublic(createPublicKey(privKey(X25519_PKCS8_PREFIX, priv, "X25519 private key")));
}

export function ed25519PublicFromPrivate(priv: Buffer): Buffer {
  return rawPublic(createPublicKey(privKey(ED25519_PKCS8_PREFIX, priv, "Ed25519 private key")));
}

/** X25519 Diffie-Hellman. Throws if OpenSSL rejects the peer key (e.g. an all-zero result). */
export function x25519(priv: Buffer, pub: Buffer): Buffer {
  return diffieHellman({
    privateKey: privKey(X25519_PKCS8_PREFIX, priv, "X25519 private key"),
    publicKey: pubKey(X25519_SPKI_PREFIX, pub, "X25519 public key"),
  });
}

export function ed25519Sign(priv: Buffer, msg: Buffer): Buffer {
  return sign(null, msg, privKey(ED25519_PKCS8_PREFIX, priv, "Ed25519 private key"));
}

/** Returns false (never throws) for malformed keys or signatures. */
export function ed25519Verify(pub: Buffer, msg: Buffer, sig: Buffer): boolean {
  try {
    if (!Buffer.isBuffer(pub) || pub.length !== 32) return false;
    if (!Buffer.isBuffer(sig) || sig.length !== 64) return false;
    if (!Buffer.isBuffer(msg)) return false;
    return verify(null, msg, pubKey(ED25519_SPKI_PREFIX, pub, "Ed25519 public key"), sig);
  } catch {
    return false;
  }
}

export function sha256(...parts: (Buffer | string)[]): Buffer {
  const h = createHash("sha256");
  for (const p of parts) h.update(typeof p === "string" ? Buffer.from(p, "utf8") : p);
  return h.digest();
}

/** Key fingerprint shown to operators and carried in enrollment tokens: base64url(SHA-256(pub)), 43 chars. */
export function fingerprint(ed25519Pub: Buffer): string {
  return sha256(ed25519Pub).toString("base64url");
}
