/**
 * Secrets at rest (docs/security.md): secret values and secret files are stored encrypted with
 * AES-256-GCM under the key in `<dataDir>/config-secrets.key` (32 random bytes, mode 0600,
 * made at first use). Format: `CSR1 ‖ nonce (12) ‖ ciphertext ‖ tag (16)`.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const MAGIC = Buffer.from("CSR1");
export const SECRETS_KEY_FILE = "config-secrets.key";

export class SecretBox {
  private key: Buffer | undefined;
  constructor(private readonly dataDir: string) {}

  private k(): Buffer {
    if (this.key) return this.key;
    const path = join(this.dataDir, SECRETS_KEY_FILE);
    let key: Buffer;
    try {
      key = readFileSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      try {
        // "wx": two servers (or two calls) racing make one key; the loser reads it.
        writeFileSync(path, randomBytes(32), { mode: 0o600, flag: "wx" });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      chmodSync(path, 0o600);
      key = readFileSync(path);
    }
    if (key.length !== 32)
      throw new Error(
        `${path} must hold exactly 32 bytes (it holds ${key.length}); restore it from a backup`,
      );
    this.key = key;
    return key;
  }

  seal(plain: Buffer): Buffer {
    const nonce = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.k(), nonce);
    c.setAAD(MAGIC);
    const body = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([MAGIC, nonce, body, c.getAuthTag()]);
  }

  open(sealed: Buffer): Buffer {
    if (sealed.length < 4 + 12 + 16 || !sealed.subarray(0, 4).equals(MAGIC))
      throw new Error("a stored configuration secret is not in the expected format");
    const d = createDecipheriv("aes-256-gcm", this.k(), sealed.subarray(4, 16));
    d.setAAD(MAGIC);
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    return Buffer.concat([d.update(sealed.subarray(16, sealed.length - 16)), d.final()]);
  }

  /** A JSON value sealed, as base64 text (for layer content). */
  sealValue(v: unknown): string {
    return this.seal(Buffer.from(JSON.stringify(v))).toString("base64");
  }

  openValue(s: string): unknown {
    return JSON.parse(this.open(Buffer.from(s, "base64")).toString("utf8"));
  }
}
