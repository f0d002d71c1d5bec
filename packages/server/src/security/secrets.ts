/** Random secrets and their stored digests. */
import { createHash, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";

const scryptAsync = promisify(scrypt) as (pw: string, salt: Buffer, len: number) => Promise<Buffer>;

export const randomToken = (bytes = 32): string => randomBytes(bytes).toString("base64url");

/** Digest for high-entropy secrets (tokens, broker passwords): SHA-256 is enough and fast. */
export const digest = (secret: string): string => createHash("sha256").update(secret).digest("base64url");

export function digestEquals(secret: string, stored: string): boolean {
  const a = Buffer.from(digest(secret));
  const b = Buffer.from(stored);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Passwords people choose get a slow hash (scrypt). Format: scrypt$salt$hash. */
export async function hashPassword(pw: string): Promise<string> {
  const salt = randomBytes(16);
  const h = await scryptAsync(pw, salt, 32);
  return `scrypt$${salt.toString("base64url")}$${h.toString("base64url")}`;
}

export async function verifyPassword(pw: string, stored: string): Promise<boolean> {
  const [kind, salt, hash] = stored.split("$");
  if (kind !== "scrypt" || !salt || !hash) return false;
  const h = await scryptAsync(pw, Buffer.from(salt, "base64url"), 32);
  const want = Buffer.from(hash, "base64url");
  return h.length === want.length && timingSafeEqual(h, want);
}
