/**
 * The SSH gateway's host key (docs/protocol.md §17.6): Ed25519, made on first use and kept in
 * <dataDir>/ssh_host_ed25519_key (OpenSSH format, mode 0600) with its .pub beside it, so
 * clients' known_hosts entries survive restarts. Its fingerprint is printed at start and
 * written to server.json (`sshFingerprint`), as `ssh-keygen -lf` prints it.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { utils } from "./ssh2-lib.js";
import { sshFingerprint } from "./keys.js";

export const HOST_KEY_FILE = "ssh_host_ed25519_key";

export interface HostKey {
  /** The private key in OpenSSH format (what ssh2's Server takes). */
  privateKey: string;
  /** `SHA256:…` */
  fingerprint: string;
  /** `ssh-ed25519 AAAA…` (for known_hosts). */
  publicKey: string;
}

export function loadOrCreateHostKey(dataDir: string): HostKey {
  const file = join(dataDir, HOST_KEY_FILE);
  if (!existsSync(file)) {
    const pair = utils.generateKeyPairSync("ed25519", { comment: "tether-ssh-gateway" });
    // "wx": a second server starting on the same directory at once never overwrites the first's key.
    try {
      writeFileSync(file, pair.private, { mode: 0o600, flag: "wx" });
      writeFileSync(`${file}.pub`, `${pair.public}\n`, { mode: 0o644 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  chmodSync(file, 0o600);
  const parsed = utils.parseKey(readFileSync(file));
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key instanceof Error || !key?.isPrivateKey())
    throw new Error(
      `${file} is not an unencrypted OpenSSH private key (${key instanceof Error ? key.message : "no private key"}); move it away to make a new one`,
    );
  const blob = key.getPublicSSH();
  return {
    privateKey: readFileSync(file, "utf8"),
    fingerprint: sshFingerprint(blob),
    publicKey: `${key.type} ${blob.toString("base64")}`,
  };
}
