/**
 * Dial-back tokens (docs/protocol.md §17.1, docs/security.md "Tunnels"): 32 random bytes,
 * single use, living TUNNEL_LIMITS.tokenTtlMs, bound to one session of one device. Only the
 * SHA-256 digest is kept (in memory: a token never outlives the process that waits for its
 * dial-back), compared in constant time. A token is spent by its first presentation for its
 * session, whether that presentation was right or not, so a guess costs the attacker the
 * session and never gives a second try.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { TUNNEL_LIMITS } from "@tether/protocol";

interface Issued {
  digest: Buffer;
  deviceId: string;
  expiresAt: number;
}

/** Why a presentation was refused (logged; the agent only ever sees TETHER_ERR_TUNNEL_TOKEN). */
export type TokenRefusal = "unknown" | "expired" | "mismatch" | "device";

const sha256 = (s: string) => createHash("sha256").update(s).digest();

export class TunnelTokens {
  /** By session id: at most one live token per waiting session (bounded by the session limits). */
  private readonly issued = new Map<string, Issued>();

  constructor(
    private readonly clock: () => number = Date.now,
    private readonly ttlMs: number = TUNNEL_LIMITS.tokenTtlMs,
  ) {}

  /** A new token for the session's dial-back (replacing any earlier one for it). */
  issue(sessionId: string, deviceId: string): string {
    this.prune();
    const token = randomBytes(32).toString("base64url");
    this.issued.set(sessionId, { digest: sha256(token), deviceId, expiresAt: this.clock() + this.ttlMs });
    return token;
  }

  /** Check and spend: true only for the right token, for this session and device, in time. */
  take(sessionId: string, deviceId: string, token: string): true | TokenRefusal {
    const t = this.issued.get(sessionId);
    if (!t) return "unknown";
    this.issued.delete(sessionId);
    const given = sha256(token);
    // Compare first, always: the answer's timing says nothing about how close a guess was.
    const same = timingSafeEqual(given, t.digest);
    if (!same) return "mismatch";
    if (this.clock() > t.expiresAt) return "expired";
    if (deviceId !== t.deviceId) return "device";
    return true;
  }

  /** The session stopped waiting (opened, failed, timed out): its token is void. */
  revoke(sessionId: string): void {
    this.issued.delete(sessionId);
  }

  get size(): number {
    return this.issued.size;
  }

  private prune(): void {
    const now = this.clock();
    for (const [id, t] of this.issued) if (now > t.expiresAt) this.issued.delete(id);
  }
}
