/**
 * SSH public keys as users register them (docs/protocol.md §17.6): one OpenSSH line
 * (`ssh-ed25519 AAAA… comment`, as in id_ed25519.pub or authorized_keys without options),
 * checked with ssh2's parser. Fingerprints are what OpenSSH prints: `SHA256:` and the
 * unpadded base64 of the SHA-256 of the key blob.
 */
import { createHash, createPublicKey } from "node:crypto";
import { TetherError } from "@tether/protocol";
import { utils } from "./ssh2-lib.js";

export interface PublicKeyInfo {
  type: string;
  bits: number;
  fingerprint: string;
  /** `TYPE BASE64` (no comment). */
  publicKey: string;
  comment: string;
}

/** Key types the gateway accepts; DSA and security-key (sk-…) types are not. */
export const SSH_KEY_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
] as const;
export const MIN_RSA_BITS = 2048;
const MAX_COMMENT = 256;
const LINE = /^(\S+) ([A-Za-z0-9+/]+={0,2})(?:[ \t]+(.*))?$/;

export const sshFingerprint = (blob: Buffer): string =>
  `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;

const invalid = (why: string) => new TetherError("TETHER_ERR_SSH_KEY_INVALID", why);

/** Parse and check one public-key line; TETHER_ERR_SSH_KEY_INVALID says what is wrong (never echoing a private key). */
export function parsePublicKey(text: string): PublicKeyInfo {
  const line = text.trim();
  if (/PRIVATE KEY/.test(line))
    throw invalid(
      "that is a private key: give the public key (the .pub file), and keep the private key secret",
    );
  if (/[\r\n]/.test(line)) throw invalid("give one public key (one line); add several keys one at a time");
  const m = LINE.exec(line);
  if (!m)
    throw invalid(
      "not an OpenSSH public key line: expected TYPE BASE64 [COMMENT], e.g. the contents of ~/.ssh/id_ed25519.pub",
    );
  const [, type, , rawComment] = m;
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type))
    throw invalid(
      `unsupported key type ${type.slice(0, 64)}: use ed25519 (recommended), ecdsa, or rsa of ${MIN_RSA_BITS} bits or more`,
    );
  const comment = (rawComment ?? "").trim();
  if (comment.length > MAX_COMMENT)
    throw invalid(`the key's comment is longer than ${MAX_COMMENT} characters`);
  // The comment reaches tables and the console: printable text only.
  if (/[\u0000-\u001f\u007f]/.test(comment)) throw invalid("the key's comment holds control characters");
  const parsed = utils.parseKey(line);
  if (parsed instanceof Error || Array.isArray(parsed))
    throw invalid(`not a valid ${type} key (the base64 part is damaged)`);
  if (parsed.isPrivateKey()) throw invalid("that is a private key: give the public key (the .pub file)");
  if (parsed.type !== type) throw invalid(`the key inside is ${parsed.type}, not ${type}`);
  const blob = parsed.getPublicSSH();
  const bits = keyBits(type, parsed.getPublicPEM());
  if (type === "ssh-rsa" && bits < MIN_RSA_BITS)
    throw invalid(
      `RSA keys must have at least ${MIN_RSA_BITS} bits (this one has ${bits}); ed25519 is recommended`,
    );
  return {
    type,
    bits,
    fingerprint: sshFingerprint(blob),
    publicKey: `${type} ${blob.toString("base64")}`,
    comment,
  };
}

function keyBits(type: string, pem: string): number {
  if (type === "ssh-ed25519") return 256;
  const curve = /^ecdsa-sha2-nistp(\d+)$/.exec(type);
  if (curve) return Number(curve[1]);
  return createPublicKey(pem).asymmetricKeyDetails?.modulusLength ?? 0;
}
