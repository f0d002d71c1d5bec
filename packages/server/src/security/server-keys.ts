/**
 * The server's long-term identity (docs/architecture.md §3): an Ed25519 key that signs enrollment
 * answers and signed frames (its fingerprint is pinned by agents through the enrollment
 * token) and an X25519 key for Noise KK. Kept in <data>/server-keys.json, mode 0600.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fingerprint, generateEd25519, generateX25519, type KeyPair } from "@tether/protocol";

export interface ServerKeys {
  sign: KeyPair;
  noise: KeyPair;
  fingerprint: string;
}

const b64u = (b: Buffer) => b.toString("base64url");

export function loadOrCreateServerKeys(dataDir: string): ServerKeys {
  const file = join(dataDir, "server-keys.json");
  if (existsSync(file)) {
    const j = JSON.parse(readFileSync(file, "utf8"));
    const sign = {
      publicKey: Buffer.from(j.signPublic, "base64url"),
      privateKey: Buffer.from(j.signPrivate, "base64url"),
    };
    const noise = {
      publicKey: Buffer.from(j.noisePublic, "base64url"),
      privateKey: Buffer.from(j.noisePrivate, "base64url"),
    };
    return { sign, noise, fingerprint: fingerprint(sign.publicKey) };
  }
  const sign = generateEd25519();
  const noise = generateX25519();
  writeFileSync(
    file,
    JSON.stringify(
      {
        signPublic: b64u(sign.publicKey),
        signPrivate: b64u(sign.privateKey),
        noisePublic: b64u(noise.publicKey),
        noisePrivate: b64u(noise.privateKey),
      },
      null,
      2,
    ),
    { mode: 0o600 },
  );
  return { sign, noise, fingerprint: fingerprint(sign.publicKey) };
}
