/**
 * The SSH keys REST API (docs/protocol.md §17.6) over a TetherClient: the caller's own public
 * keys for the SSH gateway. Every answer is checked against its @tether/protocol/api schema.
 * Browser-safe.
 */
import { SshKey } from "@tether/protocol/api";
import { validator } from "@tether/protocol/validate";
import { arrayOf, checkedCall, lazy } from "./checked.js";
import type { TetherClient } from "./client.js";

const checkKey = lazy(() => validator(SshKey));
const checkKeys = arrayOf(checkKey);

const KEYS = "/api/v1/ssh-keys";

export interface SshKeysApi {
  /** Your keys, oldest first. */
  list(): Promise<SshKey[]>;
  /** Register one public-key line (`ssh-ed25519 AAAA… comment`, as in ~/.ssh/id_ed25519.pub). */
  add(publicKey: string): Promise<SshKey>;
  /** Remove one of your keys by fingerprint (`SHA256:…`); its open SSH connections end. */
  remove(fingerprint: string): Promise<void>;
}

export function sshKeysApi(c: TetherClient): SshKeysApi {
  const call = checkedCall(c);
  return {
    list: () => call(checkKeys, "GET", KEYS),
    add: (key) => call(checkKey, "POST", KEYS, { key }),
    async remove(fingerprint) {
      await c.request("DELETE", `${KEYS}/${encodeURIComponent(fingerprint)}`);
    },
  };
}

/** How tables name a key's type and size: `ed25519`, `ecdsa-384`, `rsa-3072`. */
export function sshKeyKind(k: Pick<SshKey, "type" | "bits">): string {
  if (k.type === "ssh-ed25519") return "ed25519";
  if (k.type.startsWith("ecdsa-")) return `ecdsa-${k.bits}`;
  if (k.type === "ssh-rsa") return `rsa-${k.bits}`;
  return k.type;
}
