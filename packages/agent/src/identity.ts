/**
 * The agent's identity in its data directory (docs/architecture.md §3): keypairs generated on the
 * device (keys.json, 0600; private keys never leave it) and, once enrolled, what the
 * signed enrollment response said (identity.json, 0600).
 */
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
  openSync,
  fsyncSync,
  closeSync,
  chmodSync,
} from "node:fs";
import { join } from "node:path";
import { type BrokerCredential, generateEd25519, generateX25519, type KeyPair } from "@tether/protocol";

export interface AgentKeys {
  sign: KeyPair;
  noise: KeyPair;
}

export interface Identity {
  deviceId: string;
  shard: number;
  state: "pending" | "accepted" | "rejected" | "revoked";
  serverUrl: string;
  apiUrl: string;
  serverFingerprint: string;
  serverSignKey: string;
  serverNoiseKey: string;
  caCert: string;
  name: string;
  broker?: BrokerCredential;
  /** How often to poll while pending, as the server asked. */
  pollSeconds?: number;
}

const b64u = (b: Buffer) => b.toString("base64url");
const fromB64u = (s: string) => Buffer.from(s, "base64url");

/** Write a file atomically and durably with mode 0600. */
export function writeSecretFile(path: string, content: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  const fd = openSync(tmp, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  chmodSync(path, 0o600);
}

export function ensureDataDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

export function loadOrCreateKeys(dir: string): AgentKeys {
  const f = join(dir, "keys.json");
  if (existsSync(f)) {
    const j = JSON.parse(readFileSync(f, "utf8"));
    return {
      sign: { publicKey: fromB64u(j.signPublic), privateKey: fromB64u(j.signPrivate) },
      noise: { publicKey: fromB64u(j.noisePublic), privateKey: fromB64u(j.noisePrivate) },
    };
  }
  const sign = generateEd25519();
  const noise = generateX25519();
  writeSecretFile(
    f,
    JSON.stringify({
      signPublic: b64u(sign.publicKey),
      signPrivate: b64u(sign.privateKey),
      noisePublic: b64u(noise.publicKey),
      noisePrivate: b64u(noise.privateKey),
    }),
  );
  return { sign, noise };
}

export function loadIdentity(dir: string): Identity | null {
  const f = join(dir, "identity.json");
  return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as Identity) : null;
}

export function saveIdentity(dir: string, id: Identity): void {
  writeSecretFile(join(dir, "identity.json"), JSON.stringify(id, null, 2));
}
