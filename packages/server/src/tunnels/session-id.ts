/** Session ids (docs/protocol.md §17): `ses_` and 20 random lowercase letters or digits. */
import { randomBytes } from "node:crypto";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

export function sessionId(): string {
  let s = "ses_";
  // Rejection sampling keeps every character uniform (252 = 7 × 36).
  while (s.length < 24) for (const x of randomBytes(24)) if (x < 252 && s.length < 24) s += ALPHABET[x % 36];
  return s;
}
