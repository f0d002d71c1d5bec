/**
 * Rate limits on the routes reachable without a token: sign-in (per source address and, for
 * failures, per username) and the device-facing enrollment routes (per source address).
 * Counting is @fastify/rate-limit's (registered in app.ts with `global: false`); a request
 * over a limit is answered 429 TETHER_ERR_RATE_LIMITED with Retry-After, and logged.
 */
import { TetherError } from "@tether/protocol";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

export interface Limiter {
  /** Count this request (or only look, with count=false); throws 429 when over the limit. */
  check(req: FastifyRequest, reply: FastifyReply, key: string, count?: boolean): Promise<void>;
  /** Count one (e.g. a failed sign-in) without refusing. */
  hit(req: FastifyRequest, key: string): Promise<void>;
}

/** A limiter of `max` per `windowMs` over keys made by the caller; `what` names it in logs. */
export function limiter(app: FastifyInstance, what: string, max: number, windowMs: number): Limiter {
  const check = app.createRateLimit({
    max,
    timeWindow: windowMs,
    keyGenerator: (req) => (req as FastifyRequest & { rateKey?: string }).rateKey ?? req.ip,
  });
  const run = async (req: FastifyRequest, key: string, increment: boolean) => {
    (req as FastifyRequest & { rateKey?: string }).rateKey = `${what}:${key}`;
    return check(req, { increment });
  };
  return {
    async check(req, reply, key, count = true) {
      const r = await run(req, key, count);
      // Counting: refused once the count passes max; looking: refused once it has reached max.
      if (r.isAllowed || !(count ? r.isExceeded : r.remaining <= 0)) return;
      const after = Math.max(1, Math.ceil(r.ttl / 1000));
      req.log.warn(
        { limit: what, key, max, windowMs, retryAfterSeconds: after },
        `rate limit hit: ${what} (${max} per ${windowMs / 1000} s) for ${key}`,
      );
      reply.header("retry-after", String(after));
      throw new TetherError("TETHER_ERR_RATE_LIMITED", `too many attempts; retry in ${after} s`);
    },
    async hit(req, key) {
      await run(req, key, true);
    },
  };
}
