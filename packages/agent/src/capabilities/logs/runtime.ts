/**
 * The logs module's runtime for one agent (docs/protocol.md §15): from agent start, online or
 * offline, it reads the followed files, the systemd journal and the agent's own log, puts
 * every line through the rate limits (a line dropped is counted and becomes a gap record,
 * never silent) and seals batches into the telemetry layer's "logs" stream every `flushMs`
 * (or at 1,000 lines / 512 KiB). After each sealed batch the read positions are saved, so a
 * restart resumes where the last batch ended.
 */
import { LOG_LIMITS, type LogLineWire, levelFromText } from "@tether/protocol";
import type { Logger } from "pino";
import type { AgentTelemetry, StreamWriter } from "../../telemetry/index.js";
import { type AgentLogTap, agentLine } from "./agent-log.js";
import { FileFollower, type FollowPattern } from "./file-follower.js";
import { type JournalEntry, JournalSource, journalAvailable } from "./journal-source.js";
import { cleanLine } from "./line.js";
import { OffsetStore } from "./offsets.js";
import { LogRateLimiter, type Loss } from "./rate-limit.js";
import { type LoadedLogsSettings, type LogsSources, loadLogsSettings } from "./settings-load.js";
import {
  type LogsSettingsLayer,
  parseRemoteLogsSettings,
  pathAllowed,
  type ResolvedLogsSettings,
  resolveLogsSettings,
} from "./settings.js";

export interface LogsOptions extends LogsSources {
  telemetry: AgentTelemetry;
  /** The device's settings, loaded at agent start (else loaded here from settingsFile/flags). */
  settings?: LoadedLogsSettings;
  /** The agent's data directory: read positions in logs/offsets.json (none: not saved). */
  dataDir?: string;
  /** The agent's own log (agent.ts wraps its logger with it). */
  agentLog?: AgentLogTap;
  /** Device clock (tests). */
  now?: () => number;
  /** File stat poll and glob re-expansion intervals (defaults 500 ms, 2 s). */
  pollMs?: number;
  globMs?: number;
  /** The journalctl to run, and the directory that says a journal is there (tests). */
  journalctl?: string;
  journalDir?: string;
}

/** A batch is sealed at this many lines or bytes (of line text), or after flushMs. */
export const BATCH_LINES = 1000;
export const BATCH_BYTES = 512 * 1024;

const fmtCount = (n: number) => n.toLocaleString("en-US");
const hms = (t: number) => new Date(t).toISOString().slice(11, 19);

export class LogsRuntime {
  private readonly telemetry: AgentTelemetry | null;
  private stream: StreamWriter | null = null;
  private readonly now: () => number;
  private readonly local: { flags: LogsSettingsLayer; file: LogsSettingsLayer };
  private current: ResolvedLogsSettings;
  private readonly limiter: LogRateLimiter;
  private readonly offsets: OffsetStore;
  private readonly follower: FileFollower;
  private journal: JournalSource | null = null;
  private journalCursor: string | undefined;
  private journalBad = new Map<string, { count: number; from: number; to: number }>();
  private pending: LogLineWire[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private flushing = false;
  private readonly warnedAt = new Map<string, number>();
  /** Lines sealed and dropped since start (tests, status). */
  readonly counts = { sealed: 0, dropped: 0, batches: 0 };

  constructor(
    private readonly log: Logger,
    private readonly options: LogsOptions | undefined,
  ) {
    this.telemetry = options?.telemetry ?? null;
    this.now = options?.now ?? Date.now;
    const loaded = options?.settings ?? loadLogsSettings(options ?? {});
    for (const w of loaded.warnings) log.warn(w);
    this.local = { flags: loaded.flags, file: loaded.file };
    this.current = loaded.resolved;
    this.limiter = new LogRateLimiter(this.current, this.now);
    this.offsets = new OffsetStore(options?.dataDir ?? null, (msg, err) =>
      log.warn({ err: (err as Error).message }, msg),
    );
    this.journalCursor = this.offsets.journalCursor;
    this.follower = new FileFollower({
      log,
      now: this.now,
      offsets: this.offsets,
      maxLineBytes: LOG_LIMITS.maxLineBytes,
      onLine: (src, kept, total, t) => this.fileLine(src, kept, total, t),
      admit: (path, real, p) => this.admit(path, real, p),
      pollMs: options?.pollMs,
      globMs: options?.globMs,
    });
  }

  get settings(): ResolvedLogsSettings {
    return this.current;
  }

  /** The files followed now. */
  get files(): string[] {
    return this.follower.files;
  }

  /** Is the journal being followed? */
  get journalRunning(): boolean {
    return this.journal !== null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    if (!this.telemetry) {
      this.log.warn("logs: no telemetry layer was given; log collection is off");
      return;
    }
    try {
      this.stream = this.telemetry.stream("logs");
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "logs: the telemetry buffer has no room for logs; off");
      return;
    }
    this.running = true;
    const s = this.current;
    this.log.info(
      { follow: s.follow, journal: s.journal, agentLog: s.agentLog, rate: s.rate, deviceRate: s.deviceRate },
      "logs: collecting",
    );
    try {
      this.setAgentLog(s.agentLog);
      this.follower.start();
      this.setJournal(s);
      await this.follower.set(this.patterns(s));
    } catch (err) {
      // A bug, not a missing file (those wait): say so; the other sources keep going.
      this.log.error({ err: (err as Error).message }, "logs: following files failed to start");
    }
  }

  /**
   * Stop reading; what was read is sealed (the telemetry layer stops after this) and the
   * positions saved. The part before the first await runs synchronously (onStopping).
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.options?.agentLog?.attach(null);
    this.flush();
    const journal = this.journal;
    this.journal = null;
    await Promise.all([journal?.stop(), this.follower.stop(() => this.flush())]);
    this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Remote settings: precedence remote > file > flags > defaults; the allow-list never widens. */
  applySettings(raw: unknown): void {
    const { layer, refused } = parseRemoteLogsSettings(raw, this.current.allowed);
    for (const r of refused) this.log.warn(`logs: ${r}`);
    const before = this.current;
    const next = resolveLogsSettings({ ...this.local, remote: layer });
    this.current = next;
    this.limiter.set(next);
    if (!this.running) return;
    if (next.agentLog !== before.agentLog) this.setAgentLog(next.agentLog);
    if (
      next.journal !== before.journal ||
      JSON.stringify(next.journalUnits) !== JSON.stringify(before.journalUnits)
    )
      this.setJournal(next);
    if (JSON.stringify(this.patterns(next)) !== JSON.stringify(this.patterns(before)))
      void this.follower.set(this.patterns(next));
    this.log.info({ from: next.from }, "logs: settings applied");
  }

  /** Run a file pass now (tests: after writing, instead of waiting for the poll). */
  poke(): Promise<void> {
    return this.follower.poke();
  }

  /** Seal what is pending (and the losses) into the "logs" stream, then save the positions. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.stream || this.flushing) return;
    this.flushing = true;
    const warnings: (() => void)[] = [];
    try {
      const lines = this.pending;
      this.pending = [];
      this.pendingBytes = 0;
      const gaps = this.recordLosses(warnings);
      let appended = 0;
      let i = 0;
      while (i < lines.length) {
        let bytes = 0;
        const start = i;
        let from = Number.POSITIVE_INFINITY;
        let to = Number.NEGATIVE_INFINITY;
        while (i < lines.length && i - start < BATCH_LINES && bytes < BATCH_BYTES) {
          const l = lines[i++]!;
          bytes += l.msg.length + l.src.length + 48;
          if (l.t < from) from = l.t;
          if (l.t > to) to = l.t;
        }
        const logs = lines.slice(start, i);
        this.stream.append({ logs, span: { from, to, count: logs.length } });
        appended++;
        this.counts.sealed += logs.length;
        this.counts.batches++;
      }
      if (gaps > 0 && appended === 0) {
        // Only losses: an empty batch carries their gap records now rather than with the next line.
        const t = this.now();
        this.stream.append({ logs: [], span: { from: t, to: t, count: 0 } });
      }
      if (appended > 0 || gaps > 0) this.offsets.save(this.follower.positions(), this.journalCursor);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, "logs: batch not sealed");
    } finally {
      this.flushing = false;
    }
    for (const w of warnings) w();
    if (this.pending.length > 0) this.schedule();
  }

  private recordLosses(warnings: (() => void)[]): number {
    let n = 0;
    for (const [src, l] of this.limiter.takeLosses()) {
      this.counts.dropped += l.count;
      this.stream!.recordGap({
        from: l.from,
        to: l.to,
        count: l.count,
        reason: "rate-limit",
        stream: "logs",
        source: src.slice(0, LOG_LIMITS.maxSourceChars),
        detail: this.rateDetail(src, l).slice(0, 500),
      });
      n++;
      if (this.warnOnce(`rate:${src}`))
        warnings.push(() => this.log.warn(`logs: ${this.rateDetail(src, l)}`));
    }
    for (const [reason, l] of this.journalBad) {
      this.stream!.recordGap({
        from: l.from,
        to: l.to,
        count: l.count,
        reason: "parse-error",
        stream: "logs",
        source: "journal",
        detail: `${fmtCount(l.count)} journal entries dropped: ${reason}`,
      });
      n++;
    }
    this.journalBad.clear();
    return n;
  }

  private rateDetail(src: string, l: Loss): string {
    const s = this.current;
    const limit =
      l.byDevice === 0
        ? `rate limit ${fmtCount(s.rate)} lines/s`
        : l.bySource === 0
          ? `device rate limit ${fmtCount(s.deviceRate)} lines/s`
          : `rate limits ${fmtCount(s.rate)} lines/s per source, ${fmtCount(s.deviceRate)} lines/s per device`;
    return `${fmtCount(l.count)} lines dropped from ${src} between ${hms(l.from)} and ${hms(l.to)}: ${limit}`;
  }

  private warnOnce(key: string): boolean {
    const now = this.now();
    const last = this.warnedAt.get(key);
    if (last !== undefined && now - last < 60_000) return false;
    if (this.warnedAt.size > 1000) this.warnedAt.clear();
    this.warnedAt.set(key, now);
    return true;
  }

  private add(line: LogLineWire): void {
    // Also while stopping: the last file pass's lines are sealed by stop()'s final flush.
    if (!this.stream) return;
    if (!this.limiter.admit(line.src, line.t)) {
      // Counted; the gap record is made at the next flush. Make sure there is one.
      if (!this.timer) this.schedule();
      return;
    }
    this.pending.push(line);
    this.pendingBytes += line.msg.length + line.src.length + 48;
    if (!this.flushing && (this.pending.length >= BATCH_LINES || this.pendingBytes >= BATCH_BYTES))
      this.flush();
    else if (!this.timer) this.schedule();
  }

  private schedule(): void {
    if (this.timer || !this.running) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.current.flushMs);
    this.timer.unref();
  }

  private fileLine(src: string, kept: Buffer, total: number, t: number): void {
    if (total === 0) return; // an empty line
    const { msg, cut } = cleanLine(kept, total, this.current.maxLineBytes);
    const line: LogLineWire = { t, src: src.slice(0, LOG_LIMITS.maxSourceChars), msg };
    const lvl = levelFromText(msg);
    if (lvl) line.lvl = lvl;
    if (cut) line.cut = cut;
    this.add(line);
  }

  private journalEntry(e: JournalEntry): void {
    if (e.cursor) this.journalCursor = e.cursor;
    // The agent's own lines reach the journal too (under systemd): they come as `agent` already.
    if (this.current.agentLog && e.pid === process.pid) return;
    this.add(e.line);
  }

  private journalBadLine(reason: string): void {
    const t = this.now();
    const b = this.journalBad.get(reason);
    if (b) {
      b.count++;
      b.to = t;
    } else this.journalBad.set(reason, { count: 1, from: t, to: t });
    if (!this.timer) this.schedule();
  }

  private admit(path: string, real: string, p: FollowPattern): boolean {
    if (!p.remote) return true;
    const allowed = this.current.allowed;
    if (pathAllowed(path, allowed) && pathAllowed(real, allowed)) return true;
    if (this.warnOnce(`refused:${path}`))
      this.log.warn(
        { path, real },
        `logs: ${path} refused: outside the device's allow-list (tether.logs.allow, --allow-log, --follow-log); not read`,
      );
    return false;
  }

  private patterns(s: ResolvedLogsSettings): FollowPattern[] {
    return s.follow.map((pattern) => ({ pattern, remote: s.remoteFollow }));
  }

  private setAgentLog(on: boolean): void {
    const tap = this.options?.agentLog;
    if (!tap) return;
    tap.attach(
      on
        ? (json) => {
            const line = agentLine(json, this.now(), this.current.maxLineBytes);
            if (line) this.add(line);
          }
        : null,
    );
  }

  private setJournal(s: ResolvedLogsSettings): void {
    const old = this.journal;
    this.journal = null;
    if (old) void old.stop();
    if (!s.journal) return;
    const command = journalAvailable(this.options?.journalctl, this.options?.journalDir);
    if (!command) {
      this.log.info(
        "logs: no systemd journal here (journalctl or /run/systemd/journal missing); not followed",
      );
      return;
    }
    this.journal = new JournalSource({
      log: this.log,
      now: this.now,
      maxLineBytes: s.maxLineBytes,
      units: s.journalUnits,
      cursor: () => this.journalCursor,
      onEntry: (e) => this.journalEntry(e),
      onBad: (reason) => this.journalBadLine(reason),
      command,
    });
    this.journal.start();
  }
}
