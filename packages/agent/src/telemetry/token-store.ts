/**
 * The device's telemetry tokens (docs/protocol.md §14.1), in `<dataDir>/telemetry.json`
 * (0600, written atomically and fsynced): `current` (known to work), `next` (delivered over
 * the control channel, not yet confirmed by a 200) and the ingest `url` given with it.
 *
 * A new token is stored as `next` before the control message is acknowledged; uploads try it
 * first, and the first 200 promotes it. Until the server has the ack it accepts both, so a
 * 401 on `next` falls back to `current` — a device offline for a week still uploads.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { TELEMETRY_TOKEN_PATTERN } from "@tether/protocol";
import type { Logger } from "pino";
import { writeSecretFile } from "../identity.js";

interface TokenFile {
  current?: string;
  next?: string;
  url?: string;
}

/** After a 401 on `next`, use `current` for this long before trying `next` again. */
const NEXT_RETRY_MS = 60_000;

const TOKEN_RE = new RegExp(TELEMETRY_TOKEN_PATTERN);

export class TokenStore {
  private state: TokenFile;
  private readonly path: string;
  /** When `next` was last refused (device clock ms), or null. */
  private nextRefusedAt: number | null = null;
  /** Called when a token is stored (the uploaders wake up). */
  onStored: () => void = () => {};

  constructor(
    dataDir: string,
    private readonly defaultUrl: string,
    private readonly now: () => number,
    log: Logger,
  ) {
    this.path = join(dataDir, "telemetry.json");
    this.state = {};
    try {
      if (existsSync(this.path)) this.state = JSON.parse(readFileSync(this.path, "utf8")) as TokenFile;
    } catch (err) {
      // Written atomically, so only outside hands break it: run without a token (the data is
      // kept) until the server sends a new one, rather than not starting the agent at all.
      log.warn({ err: (err as Error).message }, "telemetry.json unreadable; waiting for a new token");
    }
  }

  get hasToken(): boolean {
    return Boolean(this.state.current || this.state.next);
  }

  /** The ingest URL: the one given with the token when it is HTTPS, else the API URL's. */
  get url(): string {
    const u = this.state.url;
    return u?.startsWith("https://") ? u : this.defaultUrl;
  }

  /** Store a token as `next`, durably, before returning (the control message's ack follows). */
  store(token: string, url?: string): void {
    if (!TOKEN_RE.test(token)) throw new Error("telemetry token is malformed");
    // A URL that is not HTTPS is kept but never used (see `url`): the token only travels over TLS.
    const s = this.state;
    if (token === s.current) {
      // A re-delivery of the token already confirmed: nothing to try first.
      if (s.next === undefined && s.url === url) return;
      this.save({ current: s.current, url });
    } else {
      this.save({ current: s.current, next: token, url });
    }
    this.nextRefusedAt = null;
    this.onStored();
  }

  /** Tokens to try for the next upload, in order. */
  candidates(): { token: string; isNext: boolean }[] {
    const { current, next } = this.state;
    const out: { token: string; isNext: boolean }[] = [];
    const refused = this.nextRefusedAt;
    // Device clocks can jump (a robot booting at 1970): only an elapsed interval counts.
    const nextFirst = next && (refused === null || Math.abs(this.now() - refused) >= NEXT_RETRY_MS);
    if (next && nextFirst) out.push({ token: next, isNext: true });
    if (current) out.push({ token: current, isNext: false });
    if (next && !nextFirst) out.push({ token: next, isNext: true });
    return out;
  }

  /** A 200 with `token`: when it is `next`, it becomes `current`. */
  accepted(token: string): void {
    if (token !== this.state.next) return;
    this.save({ current: token, url: this.state.url });
    this.nextRefusedAt = null;
  }

  /** A 401 with `token`. */
  refused(token: string): void {
    if (token === this.state.next) this.nextRefusedAt = this.now();
  }

  private save(s: TokenFile): void {
    const clean: TokenFile = {};
    if (s.current) clean.current = s.current;
    if (s.next) clean.next = s.next;
    if (s.url) clean.url = s.url;
    writeSecretFile(this.path, JSON.stringify(clean));
    this.state = clean;
  }
}
