/**
 * Remote configuration on the device (docs/protocol.md §18.5).
 *
 * - `config.apply` is durable: the handler only writes the message to
 *   `<dataDir>/config-pending.json` (atomically, fsynced) and returns; the work runs after
 *   its "seen" mark is on disk, so the control channel is never held up, and an apply that a
 *   crash interrupted is finished (redone) at the next start. Only the newest pending apply
 *   is kept: an older one not yet started is reported `ignored` (superseded).
 * - Apply: every new file goes to `<dataDir>/config/.staging-<rev>/` (fsynced), then each is
 *   renamed into place (`config/effective.json`, `config/files/PATH`), the directories are
 *   fsynced, removed managed files deleted, and `<dataDir>/config-state.json` written: the
 *   agent's own copy of what is in force (it never reads effective.json back). A failure
 *   while staging (disk full, I/O error, a download or hash check failing) leaves the old
 *   configuration in force and is reported `failed`.
 * - Never older: a revision below the one in force is reported `ignored`; the same revision
 *   and hash again re-reports the outcome (rewriting files that drifted).
 * - Then the agent's own settings (`tether.metrics|logs|config`) go to the modules, the apply
 *   hook runs (timeout, output tail) and the outcome is reported durably (`config.report`).
 * - Drift: at start, after each apply and every 60 s, effective.json and the managed files
 *   are compared with what was written; a changed set of drifted paths is reported.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  CONFIG_BLOB_PATH,
  CONFIG_LIMITS,
  configHash,
  type DownBody,
  diffValues,
  isPlainObject,
  openSealed,
  parseFilePath,
  sha256Hex,
  type UpBody,
} from "@tether/protocol";
import type { Logger } from "pino";
import type { HandlerResult } from "../../control/handler.js";
import type { Link } from "../../control/link.js";
import { type ConfigFs, nodeConfigFs } from "./fs-port.js";
import { type HookResult, type HookRun, runHook } from "./hook.js";
import {
  type ConfigSettingsLayer,
  type LoadedConfigSettings,
  parseRemoteConfigSettings,
  type ResolvedConfigSettings,
  resolveConfigSettings,
} from "./settings.js";

export type ConfigApply = DownBody<"config.apply">;
type Report = UpBody<"config.report">;
type Outcome = { status: "applied" | "failed"; error: string | null; hook: HookResult | null };

/** What the manager needs of the link (narrow, so unit tests can fake it). */
export type ConfigLink = Pick<Link, "outgoing" | "commit">;

/** Fetch one file by content hash to `dest` (at most `maxBytes`); `sealed`: encrypted to the device's key. */
export type FetchBlob = (
  hash: string,
  dest: string,
  maxBytes: number,
) => Promise<{ sealed: boolean; bytes: number }>;

export interface ConfigOptions {
  dataDir: string;
  /** The device's static X25519 key pair (keys.noise): opens sealed secret files. */
  noiseKey?: { publicKey: Buffer; privateKey: Buffer };
  /** The telemetry layer (it holds the device token and the pinned CA): fetches files not sent inline. */
  telemetry?: {
    download?(path: string, dest: string, maxBytes: number): Promise<{ sealed: boolean; bytes: number }>;
  };
  /** Overrides `telemetry` (tests). */
  fetchBlob?: FetchBlob;
  /** The device's own tether.config.* settings (file and flags). */
  settings?: LoadedConfigSettings;
  /** File operations (tests inject ENOSPC/EIO). */
  fs?: Partial<ConfigFs>;
  /** Drift check period (default 60 s). */
  driftIntervalMs?: number;
  /** SIGTERM, then SIGKILL this long after (default 5 s). */
  killGraceMs?: number;
  /** Waits between download attempts (default 1, 2, 4 s). */
  retryDelaysMs?: number[];
  now?: () => number;
}

interface FileState {
  hash: string;
  size: number;
  secret: boolean;
  /** stat after writing: an unchanged stat skips re-hashing in the drift check. */
  st?: { size: number; mtimeMs: number; ino: number } | null;
}

/** `<dataDir>/config-state.json`: what is in force. */
interface ConfigState {
  v: 1;
  rev: number;
  hash: string;
  values: Record<string, unknown>;
  files: Record<string, FileState>;
  /** SHA-256 of the effective.json the agent wrote. */
  effectiveHash: string;
  /** null: written, the hook not finished (redone after a crash). */
  outcome: Outcome | null;
  /** Drifted paths last reported. */
  drift: string[];
  appliedAt: number;
}

/** A secret file's seal adds this much: magic, ephemeral key, nonce, tag. */
const SEAL_OVERHEAD = 4 + 32 + 12 + 16;

const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** The outcome of an apply without a hook. */
const APPLIED: Outcome = { status: "applied", error: null, hook: null };

export class ConfigManager {
  private readonly fs: ConfigFs;
  private readonly configDir: string;
  private readonly statePath: string;
  private readonly pendingPath: string;
  private state: ConfigState | null = null;
  /** The newest apply not finished yet (also in config-pending.json). */
  private pending: ConfigApply | null = null;
  /** The apply being worked on now. */
  private current: ConfigApply | null = null;
  private worker: Promise<void> | null = null;
  private started = false;
  private stopped = false;
  private hook: HookRun | null = null;
  private driftTimer: NodeJS.Timeout | undefined;
  private driftRunning: Promise<void> | null = null;
  private readonly local: { flags?: ConfigSettingsLayer; file?: ConfigSettingsLayer };
  private settings: ResolvedConfigSettings;
  private readonly fetchBlob: FetchBlob | undefined;
  private readonly now: () => number;

  constructor(
    private readonly link: ConfigLink,
    private readonly log: Logger,
    private readonly applySettingsPort: (s: Record<string, unknown>) => void,
    private readonly o: ConfigOptions,
  ) {
    this.fs = { ...nodeConfigFs, ...o.fs };
    this.configDir = join(o.dataDir, "config");
    this.statePath = join(o.dataDir, "config-state.json");
    this.pendingPath = join(o.dataDir, "config-pending.json");
    this.now = o.now ?? Date.now;
    this.local = { flags: o.settings?.flags, file: o.settings?.file };
    this.settings = o.settings?.resolved ?? resolveConfigSettings({});
    const dl = o.telemetry?.download?.bind(o.telemetry);
    this.fetchBlob =
      o.fetchBlob ?? (dl ? (hash, dest, max) => dl(`${CONFIG_BLOB_PATH}/${hash}`, dest, max) : undefined);
    this.state = this.readJson<ConfigState>(this.statePath, "config-state.json");
    this.pending = this.readJson<ConfigApply>(this.pendingPath, "config-pending.json");
  }

  /** The configuration in force: revision, hash and values (tests, status). */
  get inForce(): { rev: number; hash: string; values: Record<string, unknown> } | null {
    return this.state ? { rev: this.state.rev, hash: this.state.hash, values: this.state.values } : null;
  }

  get hookSettings(): ResolvedConfigSettings {
    return this.settings;
  }

  private readJson<T>(path: string, what: string): T | null {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch {
      return null;
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      this.log.error({ err: (err as Error).message }, `${what} is unreadable: ignored`);
      return null;
    }
  }

  // ---- lifecycle ----

  /** At agent start: the settings in force (offline too), the interrupted apply, drift. */
  start(): void {
    this.started = true;
    if (this.state) this.pushSettings(this.state.values);
    if (this.pending) this.kick();
    else void this.checkDrift();
    const every = this.o.driftIntervalMs ?? 60_000;
    this.driftTimer = setInterval(() => {
      if (!this.worker) void this.checkDrift();
    }, every);
    this.driftTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.driftTimer);
    // The pending file stays: the next start runs the apply (and its hook) again.
    this.hook?.kill();
  }

  /** Resolves when no apply is queued or running (tests). */
  async idle(): Promise<void> {
    while (this.worker || this.driftRunning) await (this.worker ?? this.driftRunning);
  }

  /** Remote settings for this module (values.tether.config). */
  applySettings(raw: unknown): void {
    const { layer, refused } = parseRemoteConfigSettings(raw);
    for (const r of refused) this.log.warn(`config: ${r}`);
    this.settings = resolveConfigSettings({ ...this.local, remote: layer });
  }

  // ---- the handler ----

  /** Messages are recorded one at a time, in arrival order (the writes are asynchronous). */
  private recording: Promise<unknown> = Promise.resolve();

  /**
   * Durable `config.apply`: record it, ack, work after "seen" is on disk. The record is written
   * with asynchronous file calls, so a slow disk (or many agents on one disk) never holds the
   * event loop.
   */
  handle(b: ConfigApply): Promise<HandlerResult> {
    const run = this.recording.then(() => this.record(b));
    this.recording = run.catch(() => {});
    return run;
  }

  private async record(b: ConfigApply): Promise<HandlerResult> {
    const ignored = (error: string) => [
      this.link.outgoing("config.report", this.report(b, "ignored", error, null)),
    ];
    if (this.state && b.rev < this.state.rev)
      return ignored(`revision ${b.rev} is older than revision ${this.state.rev} in force; not applied`);
    if (this.pending && b.rev < this.pending.rev)
      return ignored(`revision ${b.rev} is older than revision ${this.pending.rev} waiting to be applied`);
    const recs = [];
    const prev = this.pending;
    if (prev && prev !== this.current && (prev.rev !== b.rev || prev.hash !== b.hash))
      recs.push(
        this.link.outgoing(
          "config.report",
          this.report(prev, "ignored", `superseded by revision ${b.rev} before it was applied`, null),
        ),
      );
    try {
      const tmp = `${this.pendingPath}.tmp`;
      await this.fs.writeFile(tmp, JSON.stringify(b));
      await this.fs.rename(tmp, this.pendingPath);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.log.error({ rev: b.rev, err: e.message }, "config: cannot record the apply");
      return [
        ...recs,
        this.link.outgoing(
          "config.report",
          this.report(b, "failed", `cannot record the configuration on the device: ${e.message}`, null),
        ),
      ];
    }
    this.pending = b;
    return { records: recs, after: () => this.kick() };
  }

  // ---- the worker ----

  private kick(): void {
    if (this.worker || !this.started || this.stopped) return;
    this.worker = this.loop().finally(() => {
      this.worker = null;
    });
  }

  private async loop(): Promise<void> {
    // One writer of config-state.json at a time: a drift check in progress finishes first.
    if (this.driftRunning) await this.driftRunning;
    while (this.pending && !this.stopped) {
      const p = this.pending;
      this.current = p;
      try {
        await this.applyOne(p);
      } catch (err) {
        // Not reached in normal operation (applyOne reports its own failures): keep the pending file.
        this.log.error({ rev: p.rev, err: (err as Error).message }, "config: apply aborted");
        return;
      } finally {
        this.current = null;
      }
      if (this.stopped) return;
      if (this.pending === p) {
        this.pending = null;
        // In the recording chain: a newer apply recorded meanwhile keeps its file.
        const removed = this.recording.then(async () => {
          if (this.pending === null) await this.fs.rm(this.pendingPath).catch(() => {});
        });
        this.recording = removed.catch(() => {});
        await removed;
      }
    }
  }

  private report(
    b: { rev: number; hash: string },
    status: Report["status"],
    error: string | null,
    hook: HookResult | null,
    drift: string[] = [],
  ): Report {
    return {
      rev: b.rev,
      hash: b.hash,
      status,
      error: error === null ? null : cut(error, CONFIG_LIMITS.errorChars),
      hook,
      drift: drift.slice(0, CONFIG_LIMITS.driftPaths),
      at: this.now(),
    };
  }

  private async send(r: Report): Promise<void> {
    if (this.stopped) return;
    await this.link.commit([this.link.outgoing("config.report", r)]);
  }

  /** Apply one configuration (or re-report it), never throwing for the apply's own failures. */
  private async applyOne(b: ConfigApply): Promise<void> {
    const prev = this.state;
    if (prev && b.rev < prev.rev) {
      await this.send(
        this.report(
          b,
          "ignored",
          `revision ${b.rev} is older than revision ${prev.rev} in force; not applied`,
          null,
        ),
      );
      return;
    }
    const same = !!prev && prev.rev === b.rev && prev.hash === b.hash;
    const expect = configHash(b.values, b.files);
    if (expect !== b.hash)
      this.log.warn(
        { rev: b.rev, hash: b.hash, computed: expect },
        "config: hash differs from the content's",
      );
    let staged: Staged;
    try {
      staged = await this.stage(b, prev);
    } catch (err) {
      await this.fs.rm(this.stagingDir(b.rev)).catch(() => {});
      const msg = (err as Error).message;
      this.log.error(
        { rev: b.rev, err: msg },
        "config: apply failed; the previous configuration stays in force",
      );
      await this.send(this.report(b, "failed", `${msg}; the previous configuration stays in force`, null));
      return;
    }
    try {
      // Without an apply hook the outcome is known now: one state write instead of two.
      const known = same ? prev.outcome : this.settings.applyHook ? null : APPLIED;
      await this.install(b, staged, prev, known);
    } catch (err) {
      const msg = (err as Error).message;
      this.log.error({ rev: b.rev, err: msg }, "config: could not put the configuration in place");
      await this.send(this.report(b, "failed", `could not put the configuration in place: ${msg}`, null));
      return;
    }
    const state = this.state as ConfigState;
    this.pushSettings(b.values);
    let outcome = state.outcome;
    if (!outcome) {
      outcome = await this.runApplyHook(b, prev, staged.changed).catch(
        (err: Error): Outcome => ({
          status: "failed",
          error: `the apply hook could not be run: ${err.message}`,
          hook: null,
        }),
      );
      if (this.stopped) return; // the hook was stopped with the agent: redone at the next start
      state.outcome = outcome;
      state.drift = [];
      await this.saveState(state);
    }
    this.log.info({ rev: b.rev, status: outcome.status, error: outcome.error }, "config: applied");
    await this.send(this.report(b, outcome.status, outcome.error, outcome.hook));
    await this.checkDrift();
  }

  private stagingDir(rev: number): string {
    return join(this.configDir, `.staging-${rev}`);
  }

  /** Every new or drifted file, and effective.json, written and fsynced under the staging dir. */
  private async stage(b: ConfigApply, prev: ConfigState | null): Promise<Staged> {
    const dir = this.stagingDir(b.rev);
    await this.fs.rm(dir);
    await this.fs.mkdir(join(dir, "files"));
    const effective = `${JSON.stringify(b.values, null, 2)}\n`;
    await this.fs.writeFile(join(dir, "effective.json"), effective);
    const files: string[] = [];
    let blobN = 0;
    for (const f of b.files) {
      try {
        parseFilePath(f.path);
      } catch (err) {
        throw new Error((err as Error).message);
      }
      const old = prev?.files[f.path];
      if (old && old.hash === f.hash && !(await this.fileDrifted(f.path, old))) continue;
      const dest = join(dir, "files", f.path);
      await this.fs.mkdir(dirname(dest));
      const check = (buf: Buffer) => {
        if (buf.length !== f.size)
          throw new Error(`file ${f.path}: ${buf.length} bytes, expected ${f.size}; refused`);
        const got = sha256Hex(buf);
        if (got !== f.hash)
          throw new Error(`file ${f.path}: content hash ${got} does not match ${f.hash}; refused`);
      };
      if (f.d !== undefined) {
        if (f.secret) throw new Error(`file ${f.path}: a secret file arrived inline; refused`);
        const buf = Buffer.from(f.d, "base64");
        check(buf);
        await this.fs.writeFile(dest, buf);
      } else {
        const blob = join(dir, `.blob-${blobN++}`);
        const got = await this.fetch(f.path, f.hash, blob, f.secret ? f.size + SEAL_OVERHEAD : f.size);
        if (got.sealed) {
          const key = this.o.noiseKey;
          if (!key) throw new Error(`file ${f.path}: sealed, but this agent has no device key to open it`);
          let plain: Buffer;
          try {
            plain = openSealed(key.privateKey, key.publicKey, await this.fs.readFile(blob), f.hash);
          } catch (err) {
            throw new Error(
              `file ${f.path}: cannot open the sealed content (${(err as Error).message}); refused`,
            );
          }
          check(plain);
          await this.fs.writeFile(dest, plain);
          await this.fs.rm(blob);
        } else {
          if (f.secret) throw new Error(`file ${f.path}: a secret file arrived unsealed; refused`);
          if (got.bytes !== f.size)
            throw new Error(`file ${f.path}: ${got.bytes} bytes, expected ${f.size}; refused`);
          const h = await this.fs.hashFile(blob);
          if (h !== f.hash)
            throw new Error(`file ${f.path}: content hash ${h} does not match ${f.hash}; refused`);
          await this.fs.fsyncFile(blob);
          await this.fs.rename(blob, dest);
        }
      }
      files.push(f.path);
    }
    // No fsync of the staging directory: each staged file's data is fsynced, and install()
    // fsyncs the directories the files are renamed into, which is what makes them durable.
    const changed = diffValues(prev?.values ?? {}, b.values).map((d) => d.key);
    const now = new Set(b.files.map((f) => f.path));
    for (const f of b.files) if (prev?.files[f.path]?.hash !== f.hash) changed.push(`file:${f.path}`);
    for (const p of Object.keys(prev?.files ?? {})) if (!now.has(p)) changed.push(`file:${p}`);
    return { dir, files, effectiveHash: sha256Hex(effective), changed };
  }

  private async fetch(path: string, hash: string, dest: string, max: number) {
    if (!this.fetchBlob)
      throw new Error(`file ${path}: not sent inline and this agent cannot download files`);
    const delays = this.o.retryDelaysMs ?? [1000, 2000, 4000];
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.fetchBlob(hash, dest, max);
      } catch (err) {
        const status = (err as { status?: number }).status;
        const retry =
          status === undefined || status === 0 || status === 401 || status === 429 || status >= 500;
        if (!retry || attempt >= delays.length || this.stopped)
          throw new Error(`file ${path}: download failed: ${(err as Error).message}`);
        this.log.warn({ path, err: (err as Error).message }, "config: download failed; retrying");
        await new Promise((r) => setTimeout(r, delays[attempt]));
      }
    }
  }

  /** Rename everything staged into place, delete removed files, fsync, then the state. */
  private async install(b: ConfigApply, s: Staged, prev: ConfigState | null, outcome: Outcome | null) {
    const filesDir = join(this.configDir, "files");
    // The directories whose entries change (files/ only when a file is renamed in or removed).
    const dirs = new Set<string>([this.configDir]);
    await this.fs.mkdir(filesDir);
    for (const p of s.files) {
      const to = join(filesDir, p);
      await this.fs.mkdir(dirname(to));
      await this.fs.rename(join(s.dir, "files", p), to);
      dirs.add(dirname(to));
    }
    await this.fs.rename(join(s.dir, "effective.json"), join(this.configDir, "effective.json"));
    const keep = new Set(b.files.map((f) => f.path));
    for (const p of Object.keys(prev?.files ?? {})) {
      if (keep.has(p)) continue;
      await this.fs.rm(join(filesDir, p));
      dirs.add(dirname(join(filesDir, p)));
    }
    for (const d of dirs) await this.fs.fsyncDir(d).catch(() => {});
    await this.fs.rm(s.dir);
    const files: Record<string, FileState> = {};
    for (const f of b.files)
      files[f.path] = {
        hash: f.hash,
        size: f.size,
        secret: f.secret,
        st: await this.fs.stat(join(filesDir, f.path)),
      };
    await this.saveState({
      v: 1,
      rev: b.rev,
      hash: b.hash,
      values: b.values,
      files,
      effectiveHash: s.effectiveHash,
      outcome,
      drift: [],
      appliedAt: this.now(),
    });
  }

  private async saveState(s: ConfigState): Promise<void> {
    const tmp = `${this.statePath}.tmp`;
    await this.fs.writeFile(tmp, JSON.stringify(s));
    await this.fs.rename(tmp, this.statePath);
    await this.fs.fsyncDir(this.o.dataDir).catch(() => {});
    this.state = s;
  }

  /** The modules' own settings from the configuration's `tether` member. */
  private pushSettings(values: Record<string, unknown>): void {
    const t = isPlainObject(values.tether) ? values.tether : {};
    const part = (k: string) => (isPlainObject(t[k]) ? t[k] : {});
    try {
      this.applySettingsPort({ metrics: part("metrics"), logs: part("logs"), config: part("config") });
    } catch (err) {
      this.log.error({ err: (err as Error).message }, "config: applying the agent's settings failed");
    }
  }

  private async runApplyHook(b: ConfigApply, prev: ConfigState | null, changed: string[]): Promise<Outcome> {
    const cmd = this.settings.applyHook;
    if (!cmd) return { status: "applied", error: null, hook: null };
    const changedFile = join(this.o.dataDir, "config-changed.txt");
    await this.fs.writeFile(changedFile, changed.length ? `${changed.join("\n")}\n` : "");
    const timeoutMs = this.settings.hookTimeoutMs;
    this.log.info({ rev: b.rev, from: prev?.rev ?? null }, "config: running the apply hook");
    this.hook = runHook(cmd, {
      cwd: this.configDir,
      env: {
        ...process.env,
        TETHER_CONFIG_REVISION: String(b.rev),
        TETHER_CONFIG_DIR: this.configDir,
        TETHER_CONFIG_CHANGED: changedFile,
      },
      timeoutMs,
      killGraceMs: this.o.killGraceMs ?? 5000,
      maxOutput: CONFIG_LIMITS.hookOutputBytes,
    });
    const r = await this.hook.done;
    this.hook = null;
    const hook: HookResult = { code: r.code, signal: r.signal, timedOut: r.timedOut, output: r.output };
    if (r.spawnError)
      return { status: "failed", error: `the apply hook could not start: ${r.spawnError}`, hook };
    if (r.timedOut)
      return {
        status: "failed",
        error: `the apply hook did not finish within ${timeoutMs / 1000} s (tether.config.hookTimeout) and was killed`,
        hook,
      };
    if (r.code !== 0)
      return {
        status: "failed",
        error:
          r.code === null
            ? `the apply hook was killed by ${r.signal}`
            : `the apply hook exited with code ${r.code}`,
        hook,
      };
    return { status: "applied", error: null, hook };
  }

  // ---- drift ----

  private async fileDrifted(path: string, f: FileState): Promise<boolean> {
    const full = join(this.configDir, "files", path);
    const st = await this.fs.stat(full);
    if (!st) return true;
    if (f.st && st.size === f.st.size && st.mtimeMs === f.st.mtimeMs && st.ino === f.st.ino) return false;
    if (st.size !== f.size) return true;
    return (await this.fs.hashFile(full)) !== f.hash;
  }

  /** Managed paths (relative to config/) that differ from what was written. */
  async driftPaths(): Promise<string[]> {
    const s = this.state;
    if (!s) return [];
    const out: string[] = [];
    const eff = join(this.configDir, "effective.json");
    const st = await this.fs.stat(eff);
    if (!st || (await this.fs.hashFile(eff)) !== s.effectiveHash) out.push("effective.json");
    for (const [p, f] of Object.entries(s.files)) if (await this.fileDrifted(p, f)) out.push(`files/${p}`);
    return out;
  }

  /** Compare; report when the set of drifted paths changed since the last report. */
  checkDrift(): Promise<void> {
    if (this.driftRunning) return this.driftRunning;
    this.driftRunning = (async () => {
      const s = this.state;
      if (!s || this.stopped) return;
      let paths: string[];
      try {
        paths = await this.driftPaths();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "config: drift check failed");
        return;
      }
      if (this.state !== s || JSON.stringify(paths) === JSON.stringify(s.drift)) return;
      if (paths.length) this.log.warn({ paths }, "config: managed files were changed on the device");
      s.drift = paths;
      await this.saveState(s).catch(() => {});
      await this.send(this.report(s, "drift", null, null, paths));
    })().finally(() => {
      this.driftRunning = null;
    });
    return this.driftRunning;
  }
}

interface Staged {
  dir: string;
  /** Paths staged under dir/files (new or drifted). */
  files: string[];
  effectiveHash: string;
  /** Changed keys and `file:PATH` entries, for the hook. */
  changed: string[];
}
