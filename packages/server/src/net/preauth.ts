/**
 * Pre-authentication limits, one mechanism for every listener (docs/security.md
 * "Listeners"). A connection counts as *unauthenticated* from the moment it is accepted
 * until its protocol says it authenticated — MQTT (TLS or WebSocket): the broker accepted
 * its CONNECT; HTTPS: it sent a complete request head. Until then it is
 *  - timed out after `timeoutMs` (the TLS handshake, a dribbled CONNECT or request head and
 *    the credential check all count), and
 *  - counted against a cap, overall (`max`) and per source address (`perAddress`). A new
 *    connection is always taken: when a cap is full, the *oldest* unauthenticated
 *    connection of that address (per-address cap) or of the address holding the most
 *    (overall cap) is closed to make room, so a pile of idle sockets can neither exhaust
 *    file descriptors nor lock out a device that connects after it. Each time a cap bites
 *    a warning is logged (at most one line per 10 s per listener, with a count).
 * Authenticated connections are never counted. The caps are lowered to fit the process's
 * file-descriptor limit (`fitToFdLimit`).
 */
import { readFileSync } from "node:fs";
import type { Server as HttpServer } from "node:http";
import type { Server as NetServer, Socket } from "node:net";
import type { Logger } from "pino";

export interface PreauthLimits {
  /** Unauthenticated connections per listener. */
  max: number;
  /** Unauthenticated connections per listener and source address. */
  perAddress: number;
  /** Time from accept to authentication, in milliseconds. */
  timeoutMs: number;
}

/** Anything that can be closed at once: a net.Socket, a TLS socket, a stream. */
interface Closable {
  destroy(): unknown;
  once(event: "close", fn: () => void): unknown;
  removeListener(event: "close", fn: () => void): unknown;
}

interface Entry {
  key: object;
  socket: Closable;
  address: string;
  timer: NodeJS.Timeout;
  onClose: () => void;
}

const LOG_EVERY_MS = 10_000;

export class PreauthGate {
  /** Insertion order is age: the first entry is the oldest. */
  private readonly entries = new Set<Entry>();
  private readonly byAddress = new Map<string, Set<Entry>>();
  private readonly byKey = new WeakMap<object, Entry>();
  private lastWarn = 0;
  private evictedSinceWarn = 0;
  /** Totals, for tests and diagnostics. */
  readonly stats = { admitted: 0, authenticated: 0, timedOut: 0, evicted: 0 };

  constructor(
    /** What the log lines call the listener, e.g. "MQTT" or "HTTPS". */
    readonly name: string,
    readonly limits: PreauthLimits,
    private readonly log: Logger,
  ) {}

  /** Unauthenticated connections held now. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Count a newly accepted connection as unauthenticated. `key` is what `authenticated()`
   * is later called with (default: the socket itself); `socket` is closed on timeout or
   * eviction.
   */
  admit(socket: Closable, address: string | undefined, key: object = socket): void {
    const addr = address ?? "unknown";
    if (this.byKey.has(key)) return;
    const same = this.byAddress.get(addr);
    if (same && same.size >= this.limits.perAddress) {
      this.evict(same.values().next().value as Entry, `${this.limits.perAddress} per address`, addr);
    } else if (this.entries.size >= this.limits.max) {
      let heaviest: Set<Entry> | undefined;
      for (const s of this.byAddress.values()) if (!heaviest || s.size > heaviest.size) heaviest = s;
      if (heaviest) this.evict(heaviest.values().next().value as Entry, `${this.limits.max} in all`, addr);
    }
    const e: Entry = {
      key,
      socket,
      address: addr,
      timer: setTimeout(() => {
        if (!this.remove(e)) return;
        this.stats.timedOut++;
        this.log.debug(
          { address: addr, listener: this.name },
          `${this.name}: closed a connection that did not authenticate within ${this.limits.timeoutMs} ms`,
        );
        socket.destroy();
      }, this.limits.timeoutMs),
      onClose: () => this.remove(e),
    };
    e.timer.unref?.();
    this.entries.add(e);
    this.byKey.set(key, e);
    let set = this.byAddress.get(addr);
    if (!set) {
      set = new Set();
      this.byAddress.set(addr, set);
    }
    set.add(e);
    this.stats.admitted++;
    socket.once("close", e.onClose);
  }

  /** The connection known by `key` authenticated: it no longer counts. False if unknown. */
  authenticated(key: object | undefined): boolean {
    const e = key ? this.byKey.get(key) : undefined;
    if (!e || !this.remove(e)) return false;
    this.stats.authenticated++;
    return true;
  }

  /** Whether the connection known by `key` is still waiting to authenticate. */
  pending(key: object | undefined): boolean {
    return !!key && this.byKey.has(key);
  }

  /** Close every unauthenticated connection (server shutdown). */
  closeAll(): void {
    for (const e of [...this.entries]) {
      this.remove(e);
      e.socket.destroy();
    }
  }

  private remove(e: Entry): boolean {
    if (!this.entries.delete(e)) return false;
    clearTimeout(e.timer);
    e.socket.removeListener("close", e.onClose);
    this.byKey.delete(e.key);
    const set = this.byAddress.get(e.address);
    set?.delete(e);
    if (set && set.size === 0) this.byAddress.delete(e.address);
    return true;
  }

  private evict(e: Entry, cap: string, newcomer: string): void {
    this.remove(e);
    this.stats.evicted++;
    this.evictedSinceWarn++;
    e.socket.destroy();
    const now = Date.now();
    if (now - this.lastWarn >= LOG_EVERY_MS) {
      this.log.warn(
        {
          listener: this.name,
          cap,
          closed: this.evictedSinceWarn,
          oldestFrom: e.address,
          newFrom: newcomer,
          waiting: this.entries.size,
        },
        `${this.name}: too many connections waiting to authenticate (cap: ${cap}); closed the oldest ` +
          `(from ${e.address}) to admit one from ${newcomer} — ${this.evictedSinceWarn} closed so far ` +
          "(raise --max-preauth / --max-preauth-per-address if this is legitimate load)",
      );
      this.lastWarn = now;
      this.evictedSinceWarn = 0;
    }
  }
}

/** The process's hard limit on open files (Linux /proc), or undefined where unknown. */
export function hardFdLimit(): number | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const hard = line?.trim().split(/\s+/)[4];
    if (!hard) return undefined;
    return hard === "unlimited" ? Number.POSITIVE_INFINITY : Number(hard);
  } catch {
    return undefined;
  }
}

/** Below this hard limit on open files the server warns at start. */
export const LOW_FD_LIMIT = 4096;

/**
 * Lower the caps so that `listeners` gates together hold at most half the file-descriptor
 * limit (the rest is for authenticated devices, the database and the server's own files).
 * Warns when the limit is low or the caps had to be lowered.
 */
export function fitToFdLimit(
  limits: PreauthLimits,
  listeners: number,
  log: Logger,
  hard: number | undefined = hardFdLimit(),
): PreauthLimits {
  if (hard === undefined || !Number.isFinite(hard)) return limits;
  const room = Math.max(8, Math.floor(hard / (2 * listeners)));
  const max = Math.min(limits.max, room);
  const fitted = { ...limits, max, perAddress: Math.min(limits.perAddress, max) };
  if (hard < LOW_FD_LIMIT || max < limits.max) {
    log.warn(
      { fdHardLimit: hard, maxPreauth: fitted.max, maxPreauthPerAddress: fitted.perAddress },
      `the open-file limit is ${hard} (hard)${hard < LOW_FD_LIMIT ? `, below ${LOW_FD_LIMIT}` : ""}: ` +
        `at most ${fitted.max} unauthenticated connections per listener; raise it ` +
        "(systemd: LimitNOFILE=65536; shell: ulimit -Hn) to serve many devices",
    );
  }
  return fitted;
}

/** The socket a TLS socket runs over (what the listener's 'connection' event saw); others as they are. */
export const rawSocket = (s: any): Socket => s?._parent ?? s;

/** Every TCP connection `server` accepts counts in `gate` as unauthenticated from the start. */
export function gateConnections(server: NetServer, gate: PreauthGate): void {
  server.on("connection", (raw: Socket) => {
    raw.on("error", () => {});
    gate.admit(raw, raw.remoteAddress);
  });
}

/**
 * HTTPS: a connection is unauthenticated until it sends a complete request head (a request or
 * an upgrade), and again while idle between requests (docs/security.md "Listeners").
 */
export function gateHttpServer(server: HttpServer, gate: PreauthGate): void {
  gateConnections(server, gate);
  const inFlight = new WeakMap<object, number>();
  server.on("request", (req, res) => {
    const raw = rawSocket(req.socket);
    gate.authenticated(raw);
    inFlight.set(raw, (inFlight.get(raw) ?? 0) + 1);
    res.once("close", () => {
      const n = (inFlight.get(raw) ?? 1) - 1;
      inFlight.set(raw, n);
      if (n === 0 && !raw.destroyed && !req.socket.destroyed) gate.admit(raw, raw.remoteAddress);
    });
  });
  server.on("upgrade", (_req, socket) => gate.authenticated(rawSocket(socket)));
}
