/**
 * The systemd journal as a source (docs/protocol.md §15): `journalctl -f -o json` from now (or
 * after the cursor saved with the last sealed batch), only where `journalctl` exists and
 * /run/systemd/journal does. Each entry becomes a line with its unit (`_SYSTEMD_UNIT`), its
 * priority (`PRIORITY`, the level by levelFromPriority) and the journal's own time
 * (`__REALTIME_TIMESTAMP`, µs). journalctl is restarted with backoff if it exits.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { LOG_LIMITS, type LogLineWire, levelFromPriority } from "@tether/protocol";
import type { Logger } from "pino";
import { cleanText, LineSplitter } from "./line.js";

/** A journal entry's JSON line as a wire line (without rate limits), or null to skip it. */
export interface JournalEntry {
  line: LogLineWire;
  cursor?: string;
  pid?: number;
}

/** Bytes of one journalctl JSON line kept at most (a longer one is skipped and counted). */
export const MAX_JOURNAL_JSON = 1024 * 1024;

const decoder = new TextDecoder("utf-8", { fatal: false });

/** A journal field: a string, a byte array (non-UTF-8 or binary data), or several values (take the first). */
function fieldText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  if (Array.isArray(v)) {
    if (v.length === 0) return undefined;
    if (v.every((x) => typeof x === "number")) {
      const bytes = Uint8Array.from(v as number[], (x) => x & 0xff);
      return decoder.decode(bytes);
    }
    return fieldText(v[0]);
  }
  return undefined;
}

/**
 * One `journalctl -o json` line. Null when it is not an entry (not JSON, no MESSAGE):
 * `bad` tells the caller to count it.
 */
export function parseJournalLine(
  json: string,
  now: number,
  maxLineBytes = LOG_LIMITS.maxLineBytes,
): JournalEntry | { bad: string } | null {
  let o: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(json);
    if (!v || typeof v !== "object" || Array.isArray(v)) return { bad: "not a JSON object" };
    o = v as Record<string, unknown>;
  } catch {
    return { bad: "not JSON" };
  }
  const msg = fieldText(o.MESSAGE);
  if (msg === undefined) return null; // an entry without a message (rare): nothing to show
  const us = Number(fieldText(o.__REALTIME_TIMESTAMP));
  const t = Number.isFinite(us) && us > 0 ? Math.floor(us / 1000) : now;
  const { msg: text, cut } = cleanText(msg.replace(/\n+$/, ""), maxLineBytes);
  const line: LogLineWire = { t, src: "journal", msg: text };
  const pri = Number(fieldText(o.PRIORITY));
  if (Number.isInteger(pri) && pri >= 0 && pri <= 7) {
    line.pri = pri;
    line.lvl = levelFromPriority(pri);
  }
  const unit = fieldText(o._SYSTEMD_UNIT) ?? fieldText(o._SYSTEMD_USER_UNIT);
  // Cleaned like a message (no control characters, no lone surrogate from a cut pair).
  if (unit) line.unit = cleanText(unit.slice(0, LOG_LIMITS.maxUnitChars), LOG_LIMITS.maxUnitChars * 4).msg;
  if (cut) line.cut = cut;
  const out: JournalEntry = { line };
  const cursor = fieldText(o.__CURSOR);
  if (cursor) out.cursor = cursor;
  const pid = Number(fieldText(o._PID));
  if (Number.isInteger(pid)) out.pid = pid;
  return out;
}

/** Is there a journal to read here (journalctl on PATH and /run/systemd/journal)? */
export function journalAvailable(
  command = "journalctl",
  runDir = "/run/systemd/journal",
  path = process.env.PATH ?? "",
): string | null {
  if (!existsSync(runDir)) return null;
  const candidates = command.includes("/") ? [command] : path.split(delimiter).map((d) => join(d, command));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here
    }
  }
  return null;
}

export interface JournalSourceOptions {
  log: Logger;
  now: () => number;
  maxLineBytes: number;
  /** Only these units (empty: all). */
  units: string[];
  /** Resume after this cursor (else from now). */
  cursor: () => string | undefined;
  onEntry: (e: JournalEntry) => void;
  /** A JSON line that could not be read (counted as a parse-error gap). */
  onBad: (reason: string) => void;
  /** The journalctl to run (tests: a script printing canned JSON). */
  command: string;
}

export class JournalSource {
  private child: ChildProcess | null = null;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly o: JournalSourceOptions) {}

  start(): void {
    this.stopped = false;
    this.spawn();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const c = this.child;
    if (c && c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
    await this.exited;
  }

  private spawn(): void {
    const { o } = this;
    const cursor = o.cursor();
    const args = [
      "-f",
      "-o",
      "json",
      "--no-pager",
      ...(cursor ? ["--after-cursor", cursor] : ["--since", "now"]),
    ];
    for (const u of o.units) args.push("-u", u);
    let child: ChildProcess;
    try {
      child = spawn(o.command, args, { stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
      o.log.warn({ err: (err as Error).message }, "logs: cannot run journalctl; the journal is not followed");
      return;
    }
    this.child = child;
    const startedAt = o.now();
    let stderr = "";
    const split = new LineSplitter(MAX_JOURNAL_JSON, (kept, total) => {
      if (total > kept.length) {
        o.onBad("journal entry over 1 MiB");
        return;
      }
      const r = parseJournalLine(kept.toString("utf8"), o.now(), o.maxLineBytes);
      if (!r) return;
      if ("bad" in r) o.onBad(r.bad);
      else o.onEntry(r);
    });
    child.stdout!.on("data", (b: Buffer) => split.push(b));
    child.stderr!.on("data", (b: Buffer) => {
      if (stderr.length < 2000) stderr += b.toString("utf8");
    });
    child.on("error", (err) => {
      o.log.warn({ err: err.message }, "logs: journalctl failed");
    });
    this.exited = new Promise((resolve) => {
      child.on("close", (code, signal) => {
        this.child = null;
        resolve();
        if (this.stopped) return;
        // Ran a while: a fresh start; exits at once again and again: back off up to a minute.
        if (o.now() - startedAt > 60_000) this.failures = 0;
        const delay = Math.min(60_000, 1000 * 2 ** this.failures++);
        o.log.warn(
          { code, signal, stderr: stderr.trim().slice(0, 500), retryInMs: delay },
          "logs: journalctl exited; restarting it",
        );
        this.restartTimer = setTimeout(() => {
          this.restartTimer = null;
          if (!this.stopped) this.spawn();
        }, delay);
        this.restartTimer.unref();
      });
    });
  }
}
