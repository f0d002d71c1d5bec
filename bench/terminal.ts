/**
 * Terminal benchmark (npm run bench:terminal; issue 13 "Benchmark"). One run on loopback measures
 * Tether's web-terminal path (the SDK's `openTerminal` in the browser's role: WSS to
 * /api/v1/terminal, frames with flow control on channel 0, a server and a real `tether agent`
 * each in its own process, a real PTY) beside OpenSSH (`ssh -tt` to the benchmark's own sshd on
 * loopback: the limit) and WeTTY (the peer web terminal, socket.io; installed outside the repo):
 *  - keystroke → echo p50/p99: one byte typed into `stty raw -echo; exec cat` until it is back;
 *    the paths interleaved sample by sample, after a warm-up.
 *  - `cat` of a FILE_MB MB file of random base64 text: MB/s, median of CAT_RUNS, interleaved.
 *  - RSS growth (VmRSS) of the server and the agent during YES_S s of `yes` (after a 3 s warm-up
 *    flood), with a client that reads and with one that stops reading (WeTTY's server beside).
 *  - Ctrl-C typed during `cat /dev/urandom | base64` → the prompt back, p99 (all three paths).
 *  - SHELLS shells on SHELLS devices (simulated agents as in bench:exec): server memory per
 *    session (WeTTY's server with as many shells beside it).
 * Every path runs the same shell (`bash --norc --noprofile`, PS1 a marker base64 cannot contain).
 * Prints one markdown table (row, figure, anchor, ratio, goal, met?) and notes; writes
 * bench/results/terminal.json. A missing peer is a "not measured" row with what to install.
 * Flags: --quick (50 echo samples, a 10 MB file, 5 s of yes, 5 Ctrl-C tries, 10 shells).
 * Env: BENCH_ROWS (comma list of echo, cat, yes, interrupt, shells; default all),
 * BENCH_ECHO_SAMPLES (300; 50), BENCH_ECHO_WARMUP (30; 10), BENCH_ECHO_GAP_MS (5),
 * BENCH_CAT_MB (100; 10), BENCH_CAT_RUNS (3), BENCH_YES_S (30; 5), BENCH_INTERRUPTS (30; 5),
 * BENCH_SHELLS (100; 10), BENCH_AGENT_PROCS (processes for the simulated devices: 2),
 * BENCH_WETTY_DIR (/opt/wetty), BENCH_AGENT_BIN=installed (packages/cli/bin/tether.js as the agent),
 * BENCH_QUIET_WAIT_S (180; 0: how long to wait for other processes to use < 0.3 cores).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fmt, fmtInt, Report } from "./lib/report.js";
import { cpuByName, cpuSnapshot, foreignCores, waitForQuiet } from "./terminal/cpu.js";
import { env, git, progress, QUICK, settledRss, sleep, summarize } from "./lib/util.js";
import type { ShellsResult } from "./terminal/fleet.js";
import { catOnce, echoOnce, interruptOnce, openMany, startEchoCat } from "./terminal/measure.js";
import { type FloodResult, flood } from "./terminal/memory.js";
import { type SshPath, startSsh } from "./terminal/ssh.js";
import { ready, type Term } from "./terminal/term.js";
import type { TetherAgent, TetherServer } from "./terminal/tether.js";
import { startWetty, type WettyPath } from "./terminal/wetty.js";

const SAMPLES = env("BENCH_ECHO_SAMPLES", QUICK ? 50 : 300);
const WARMUP = env("BENCH_ECHO_WARMUP", QUICK ? 10 : 30);
const GAP_MS = env("BENCH_ECHO_GAP_MS", 5);
const FILE_MB = env("BENCH_CAT_MB", QUICK ? 10 : 100);
const CAT_RUNS = env("BENCH_CAT_RUNS", 3);
const YES_S = env("BENCH_YES_S", QUICK ? 5 : 30);
const INTERRUPTS = env("BENCH_INTERRUPTS", QUICK ? 5 : 30);
const SHELLS = env("BENCH_SHELLS", QUICK ? 10 : 100);
const PROCS = env("BENCH_AGENT_PROCS", 2);
const ALL_ROWS = ["echo", "cat", "yes", "interrupt", "shells"];
const ROWS = new Set((process.env.BENCH_ROWS ?? ALL_ROWS.join(",")).split(",").map((s) => s.trim()));
for (const r of ROWS)
  if (!ALL_ROWS.includes(r)) throw new Error(`BENCH_ROWS: unknown row ${r} (${ALL_ROWS.join(", ")})`);
const DEVICE = "bench-term";

const tmpRoot = mkdtempSync(join(tmpdir(), "tether-bench-terminal-"));
const results: Record<string, any> = {
  startedAt: new Date().toISOString(),
  commit: git(["rev-parse", "--short", "HEAD"]),
  uncommitted: git(["status", "--porcelain", "--", "packages"]).split("\n").filter(Boolean),
  quick: QUICK,
  cores: cpus().length,
  config: {
    echoSamples: SAMPLES,
    echoWarmup: WARMUP,
    echoGapMs: GAP_MS,
    fileMB: FILE_MB,
    catRuns: CAT_RUNS,
    yesSeconds: YES_S,
    interrupts: INTERRUPTS,
    shells: SHELLS,
    agentProcs: PROCS,
  },
};

interface Path {
  name: "tether" | "ssh" | "wetty";
  open(): Promise<Term>;
}

type Summary = ReturnType<typeof summarize>;
/** MB/s of the counted runs; whether all output arrived; CPU ms per MB by process (mean). */
type CatResult = { mbps: number[]; complete: boolean; cpuMsPerMB: Record<string, number> };

/** A file of random base64 text (76-column lines, as base64(1) writes them), made once. */
function makeFile(mb: number): { file: string; bytes: number; lines: number } {
  const file = join(tmpRoot, `random-${mb}MB.b64`);
  const lines = Math.round((mb * 1e6) / 77); // 57 random bytes → 76 characters and \n
  execFileSync("sh", ["-c", `head -c ${lines * 57} /dev/urandom | base64 > "$1"`, "sh", file]);
  const bytes = statSync(file).size;
  if (bytes !== lines * 77) throw new Error(`${file}: ${bytes} bytes, expected ${lines * 77}`);
  return { file, bytes, lines };
}

async function main() {
  const report = new Report();
  results.quiet = await waitForQuiet(env("BENCH_QUIET_WAIT_S", QUICK ? 0 : 180));
  /** Cores other processes kept busy during each row (the notes print them). */
  const busy: Record<string, number> = {};
  let lapAt = cpuSnapshot();
  let lapName = "";
  const lap = (name: string) => {
    const now = cpuSnapshot();
    if (lapName) busy[lapName] = foreignCores(lapAt, now);
    lapAt = now;
    lapName = name;
  };
  const failures = report.failures;
  const fail = (key: string, err: unknown) => {
    failures[key] = String((err as Error)?.message ?? err).slice(0, 3000);
    progress(`${key}: FAILED: ${failures[key]}`);
  };

  // ------------------------------------------------------------------ the three paths
  const needSingle = ["echo", "cat", "yes", "interrupt"].some((r) => ROWS.has(r));
  // OpenSSH is a peer of the echo, cat and interrupt rows only.
  const ssh = ["echo", "cat", "interrupt"].some((r) => ROWS.has(r))
    ? await report.attempt("ssh (OpenSSH peer)", () => startSsh(join(tmpRoot, "ssh")))
    : null;
  let wetty = await report.attempt("wetty (WeTTY peer)", () => startWetty(join(tmpRoot, "wetty")));
  let server: TetherServer | null = null;
  let agent: TetherAgent | null = null;
  let agentLabel = "";
  // Loaded here, so that the peers are still measured when Tether's side does not load.
  const tether = await report.attempt("tether (modules)", () => import("./terminal/tether.js"));
  const fleet = await report.attempt("tether (modules)", () => import("./terminal/fleet.js"));
  const { agentCommand, openTether, startAgent, startServer } = tether ?? ({} as NonNullable<typeof tether>);
  if (needSingle && tether)
    await report.attempt("tether (server and agent)", async () => {
      progress("tether: starting a server (child) and a real agent");
      server = await startServer(join(tmpRoot, "server"), { enrollUses: 1 });
      const cmd = await agentCommand();
      agentLabel = cmd.label;
      agent = await startAgent(server, cmd, join(tmpRoot, "agent"), DEVICE);
      progress(`tether: server pid ${server.pid}, agent pid ${agent.pid} (${cmd.label}), device online`);
    });
  const paths: Path[] = [];
  if (server && agent) paths.push({ name: "tether", open: () => openTether(server!, DEVICE) });
  if (ssh) paths.push({ name: "ssh", open: () => ssh.open() });
  if (wetty) paths.push({ name: "wetty", open: () => wetty!.open() });
  const openReady = (p: Path) => ready(p.open, p.name);

  // ------------------------------------------------------------------ keystroke → echo
  if (ROWS.has("echo")) lap("echo");
  const echo: Record<string, Summary> = {};
  if (ROWS.has("echo")) {
    progress(`echo: ${WARMUP} warm-up + ${SAMPLES} keystrokes per path, interleaved, ${GAP_MS} ms apart`);
    const terms = new Map<string, Term>();
    for (const p of paths) {
      try {
        const t = await openReady(p);
        terms.set(p.name, t);
        await startEchoCat(t);
      } catch (err) {
        fail(`echo ${p.name}`, err);
        terms.delete(p.name);
      }
    }
    const samples = new Map<string, number[]>([...terms.keys()].map((k) => [k, []]));
    for (let i = 0; i < WARMUP + SAMPLES && terms.size; i++) {
      const order = [...terms.keys()];
      // Rotate who goes first, so no path always follows another's wake-ups.
      for (let k = 0; k < order.length; k++) {
        const name = order[(i + k) % order.length]!;
        const t = terms.get(name);
        if (!t) continue;
        try {
          const ms = await echoOnce(t, i);
          if (i >= WARMUP) samples.get(name)!.push(ms);
        } catch (err) {
          fail(`echo ${name}`, err);
          terms.delete(name);
          await t.close().catch(() => {});
        }
        await sleep(GAP_MS);
      }
    }
    for (const [name, t] of terms) {
      await t.close().catch(() => {});
      echo[name] = summarize(samples.get(name)!);
      progress(`echo ${name}: p50 ${fmt(echo[name].p50, 3)} p99 ${fmt(echo[name].p99, 3)} ms`);
    }
  }

  // ------------------------------------------------------------------ cat throughput
  if (ROWS.has("cat")) lap("cat");
  const cat: Record<string, CatResult> = {};
  const roles: Record<number, string> = {};
  if (server) roles[(server as TetherServer).pid] = "server";
  if (agent) roles[(agent as TetherAgent).pid] = "agent";
  if (wetty) roles[wetty.pid] = "wetty";
  let fileInfo: ReturnType<typeof makeFile> | null = null;
  if (ROWS.has("cat")) {
    fileInfo = makeFile(FILE_MB);
    const f = fileInfo;
    progress(
      `cat: ${fmtInt(f.bytes)} bytes of base64 in ${f.file}; a warm-up and ${CAT_RUNS} runs per path, interleaved`,
    );
    const terms = new Map<string, Term>();
    for (const p of paths) {
      try {
        terms.set(p.name, await openReady(p));
        cat[p.name] = { mbps: [], complete: true, cpuMsPerMB: {} };
      } catch (err) {
        fail(`cat ${p.name}`, err);
      }
    }
    // Run 0 is a warm-up (V8 compiles the hot path, heaps grow): not counted.
    for (let r = 0; r <= CAT_RUNS; r++) {
      for (const [name, t] of terms) {
        try {
          const c0 = cpuSnapshot(roles);
          const x = await catOnce(t, f.file);
          const used = cpuByName(c0, cpuSnapshot(roles));
          const mbps = f.bytes / 1e6 / (x.ms / 1000);
          // The PTY turns each \n into \r\n: at least file + lines bytes must have arrived.
          if (x.bytes < f.bytes + f.lines) cat[name]!.complete = false;
          if (r > 0) {
            cat[name]!.mbps.push(mbps);
            for (const [k, ms] of Object.entries(used))
              cat[name]!.cpuMsPerMB[k] = (cat[name]!.cpuMsPerMB[k] ?? 0) + ms / (f.bytes / 1e6) / CAT_RUNS;
          }
          progress(
            `cat ${name}: ${r ? `run ${r}` : "warm-up"}: ${fmt(mbps, 1)} MB/s (${fmt(x.ms, 0)} ms, ${fmtInt(x.bytes)} bytes)`,
          );
        } catch (err) {
          fail(`cat ${name}`, err);
          terms.delete(name);
          await t.close().catch(() => {});
        }
      }
    }
    for (const t of terms.values()) await t.close().catch(() => {});
  }

  // ------------------------------------------------------------------ Ctrl-C
  if (ROWS.has("interrupt")) lap("interrupt");
  const intr: Record<string, Summary & { bytesAfterP50: number }> = {};
  if (ROWS.has("interrupt")) {
    progress(`interrupt: ${INTERRUPTS} tries per path, interleaved`);
    const terms = new Map<string, Term>();
    const ms = new Map<string, number[]>();
    const after = new Map<string, number[]>();
    for (const p of paths) {
      try {
        terms.set(p.name, await openReady(p));
        ms.set(p.name, []);
        after.set(p.name, []);
      } catch (err) {
        fail(`interrupt ${p.name}`, err);
      }
    }
    for (let i = 0; i < INTERRUPTS; i++) {
      for (const [name, t] of terms) {
        try {
          const r = await interruptOnce(t);
          ms.get(name)!.push(r.ms);
          after.get(name)!.push(r.bytesAfter);
        } catch (err) {
          fail(`interrupt ${name}`, err);
          terms.delete(name);
          await t.close().catch(() => {});
        }
      }
    }
    for (const [name, t] of terms) {
      await t.close().catch(() => {});
      intr[name] = { ...summarize(ms.get(name)!), bytesAfterP50: summarize(after.get(name)!).p50 };
      progress(`interrupt ${name}: p50 ${fmt(intr[name].p50, 1)} p99 ${fmt(intr[name].p99, 1)} ms`);
    }
  }

  // ------------------------------------------------------------------ yes: memory
  if (ROWS.has("yes")) lap("yes");
  const yes: Record<string, FloodResult> = {};
  if (ROWS.has("yes")) {
    const runs: [string, Path | null, Record<string, number>, boolean][] = [];
    const tp = paths.find((p) => p.name === "tether") ?? null;
    const wp = paths.find((p) => p.name === "wetty") ?? null;
    if (tp) {
      const watch = {
        server: (server as TetherServer | null)!.pid,
        agent: (agent as TetherAgent | null)!.pid,
      };
      runs.push(["tether reading", tp, watch, true], ["tether not reading", tp, watch, false]);
    }
    if (wp) {
      runs.push(
        ["wetty reading", wp, { wetty: wetty!.pid }, true],
        ["wetty not reading", wp, { wetty: wetty!.pid }, false],
      );
    }
    for (const [key, p, watch, reading] of runs) {
      progress(
        `yes: ${key}: ${YES_S} s of \`yes\`, RSS of ${Object.keys(watch).join(" and ")} sampled every 250 ms`,
      );
      let t: Term | null = null;
      try {
        t = await openReady(p!);
        yes[key] = await flood(t, watch, { seconds: YES_S, reading });
        const y = yes[key];
        progress(
          `yes: ${key}: ${fmt(y.rate, 1)} MB/s received; growth ${Object.entries(y.procs)
            .map(([n, v]) => `${n} ${fmt(v.growthMB, 1)} MB`)
            .join(
              ", ",
            )}${y.heldBytes === null ? "" : `; ${fmtInt(y.heldBytes)} bytes held in flight`}; ^C → prompt ${fmt(y.interruptMs, 0)} ms`,
        );
      } catch (err) {
        fail(`yes ${key}`, err);
      } finally {
        await t?.close().catch(() => {});
      }
    }
  }

  // The single-device set-up is done: the shells row has its own server and devices.
  await (agent as TetherAgent | null)?.stop();
  await (server as TetherServer | null)?.stop();
  await ssh?.stop();

  // ------------------------------------------------------------------ many shells
  if (ROWS.has("shells")) lap("shells");
  let shells: ShellsResult | null = null;
  let wettyShells: { beforeKiB: number; afterKiB: number; perSessionKiB: number } | null = null;
  if (ROWS.has("shells")) {
    if (fleet)
      shells = await report.attempt("shells tether", () => fleet.tetherShells(tmpRoot, SHELLS, PROCS), 3000);
    if (wetty) {
      // A fresh WeTTY, so the earlier rows' sessions are not in its baseline.
      await wetty.stop();
      wetty = await report.attempt("wetty (WeTTY peer, restarted)", () => startWetty(join(tmpRoot, "wetty")));
      const w = wetty;
      if (w)
        wettyShells = await report.attempt("shells wetty", async () => {
          progress(`shells: ${SHELLS} shells through WeTTY`);
          const before = await settledRss(w.pid);
          const terms = await openMany(SHELLS, () => w.open());
          const after = await settledRss(w.pid);
          await Promise.all(terms.map((t) => t.close().catch(() => {})));
          return {
            beforeKiB: before.kib,
            afterKiB: after.kib,
            perSessionKiB: (after.kib - before.kib) / SHELLS,
          };
        });
    }
  }
  await wetty?.stop();
  lap("");
  results.foreignCores = busy;

  table(report, { echo, cat, intr, yes, shells, wettyShells, fileInfo, ssh, wetty, agentLabel });
}

function table(
  report: Report,
  r: {
    echo: Record<string, Summary>;
    cat: Record<string, CatResult>;
    intr: Record<string, Summary & { bytesAfterP50: number }>;
    yes: Record<string, FloodResult>;
    shells: ShellsResult | null;
    wettyShells: { beforeKiB: number; afterKiB: number; perSessionKiB: number } | null;
    fileInfo: { bytes: number } | null;
    ssh: SshPath | null;
    wetty: WettyPath | null;
    agentLabel: string;
  },
) {
  const failures = report.failures;
  /** Why a figure is missing: a failure whose key starts with one of `keys`, or BENCH_ROWS. */
  const why = (...keys: string[]) => {
    const k = Object.keys(failures).find((f) => keys.some((x) => f.startsWith(x)));
    return k ? `not measured: ${k} FAILED (see notes)` : "not measured";
  };
  const tetherWhy = (section: string) => why(`${section} tether`, "tether", "shells tether");
  /** A peer's figure, or why it is missing: FAILED (the peer did not start, or this row failed on it). */
  const peer = (name: string, v: number | undefined, d: number, section: string, key: string) => {
    if (v !== undefined) return `${name} ${fmt(v, d)}`;
    const failed = Object.keys(failures).some((f) => f === `${section} ${key}` || f.startsWith(`${key} (`));
    return `${name} ${failed ? "FAILED" : "n/a"}`;
  };
  const median = (xs: number[]) => summarize(xs).p50;
  /** A row whose Tether figure may be missing (then no ratio and no verdict; the peers still show). */
  const row = (
    name: string,
    t: number | undefined,
    d: number,
    section: string,
    anchor: string,
    ratio: number | null,
    goal: string,
    met: boolean | null,
  ) =>
    t === undefined
      ? report.row(name, tetherWhy(section), anchor, null, goal, null)
      : report.row(name, d < 0 ? fmtInt(t) : fmt(t, d), anchor, ratio, goal, met);

  if (ROWS.has("echo")) {
    const t = r.echo.tether;
    const s = r.echo.ssh;
    const w = r.echo.wetty;
    row(
      `keystroke → echo p50, web terminal (ms; ${SAMPLES} keystrokes)`,
      t?.p50,
      3,
      "echo",
      `${peer("OpenSSH", s?.p50, 3, "echo", "ssh")} · ${peer("WeTTY", w?.p50, 3, "echo", "wetty")}`,
      t && s ? t.p50 / s.p50 : null,
      "≤ OpenSSH + 1 ms",
      t && s ? t.p50 <= s.p50 + 1 : null,
    );
    row(
      "keystroke → echo p99, web terminal (ms)",
      t?.p99,
      3,
      "echo",
      `${peer("WeTTY", w?.p99, 3, "echo", "wetty")} · ${peer("OpenSSH", s?.p99, 3, "echo", "ssh")}`,
      t && w ? t.p99 / w.p99 : null,
      "< WeTTY",
      t && w ? t.p99 < w.p99 : null,
    );
  }

  if (ROWS.has("cat")) {
    const m = (k: string) => (r.cat[k]?.mbps.length ? median(r.cat[k].mbps) : undefined);
    const t = m("tether");
    const w = m("wetty");
    row(
      `\`cat\` of a ${FILE_MB} MB file of base64 (MB/s, median of ${CAT_RUNS})`,
      t,
      1,
      "cat",
      `${peer("WeTTY", w, 1, "cat", "wetty")} · ${peer("OpenSSH", m("ssh"), 1, "cat", "ssh")}`,
      t !== undefined && w !== undefined ? t / w : null,
      "≥ 50 and ≥ WeTTY",
      t === undefined ? null : t >= 50 && (w === undefined || t >= w) && r.cat.tether!.complete,
    );
  }

  if (ROWS.has("yes")) {
    for (const [mode, label] of [
      ["reading", "client reading"],
      ["not reading", "client stopped reading"],
    ] as const) {
      const t = r.yes[`tether ${mode}`];
      const w = r.yes[`wetty ${mode}`];
      for (const proc of ["server", "agent"] as const) {
        const g = t?.procs[proc]?.growthMB;
        row(
          `RSS growth during ${YES_S} s of \`yes\`, ${label}: ${proc} (MB${t ? `; ${fmt(t.rate, 1)} MB/s received` : ""})`,
          g,
          1,
          `yes tether ${mode}`,
          `WeTTY's server ${w ? `${fmt(w.procs.wetty!.growthMB, 1)}${w.ended ? " (then it dropped the client)" : ""}` : "n/a"}`,
          null,
          "< 50 MB",
          g === undefined ? null : g < 50,
        );
      }
    }
  }

  if (ROWS.has("interrupt")) {
    const t = r.intr.tether;
    const s = r.intr.ssh;
    const w = r.intr.wetty;
    row(
      `Ctrl-C during \`cat /dev/urandom | base64\` → prompt, p99 (ms; ${INTERRUPTS} tries)`,
      t?.p99,
      1,
      "interrupt",
      `${peer("OpenSSH", s?.p99, 1, "interrupt", "ssh")} · ${peer("WeTTY", w?.p99, 1, "interrupt", "wetty")}`,
      t && s ? t.p99 / s.p99 : null,
      "≤ 1,000 ms",
      t ? t.p99 <= 1000 && t.n >= Math.min(20, INTERRUPTS) : null,
    );
  }

  if (ROWS.has("shells")) {
    const sh = r.shells;
    row(
      `${SHELLS} shells on ${SHELLS} devices: server memory per session (KiB${sh ? `; ${sh.opened} answered` : ""})`,
      sh?.perSessionKiB,
      -1,
      "shells",
      `WeTTY's server ${r.wettyShells ? fmtInt(r.wettyShells.perSessionKiB) : "n/a"} (its PTYs in-process)`,
      sh && r.wettyShells ? sh.perSessionKiB / r.wettyShells.perSessionKiB : null,
      "(printed)",
      null,
    );
  }

  // ------------------------------------------------------------------ notes
  const e = r.echo;
  const notes = [
    `paths: tether = the SDK's openTerminal (WSS to /api/v1/terminal, API token, TunnelMux on channel 0, TCP_NODELAY) → server (own process) → agent (${r.agentLabel || "n/a"}, own process) → PTY; OpenSSH = \`ssh -tt\` (default cipher, pipes to this process) → the benchmark's own sshd on 127.0.0.1:${r.ssh?.port ?? "n/a"}${r.ssh?.bashrcHidden ? " (root's ~/.bashrc hidden from its sessions)" : ""}; WeTTY ${r.wetty?.version ?? "(not running)"} = socket.io-client over WebSocket → WeTTY's server (own process, node-pty in-process, its 2 ms output batching as shipped; TLS with an ECDSA P-256 certificate like Tether's), committing every 256 KiB as its page does. Every path runs \`bash --norc --noprofile\` in an 80×30 PTY.`,
    Object.keys(e).length
      ? `echo: \`stty raw -echo; exec cat\`, one byte written → the same byte read back; ${WARMUP} warm-up + ${SAMPLES} per path, paths interleaved keystroke by keystroke, ${GAP_MS} ms apart. ${Object.entries(
          e,
        )
          .map(
            ([k, v]) =>
              `${k} p50/p90/p99/max ${fmt(v.p50, 3)}/${fmt(v.p90, 3)}/${fmt(v.p99, 3)}/${fmt(v.max, 3)} ms`,
          )
          .join("; ")}.`
      : "",
    Object.keys(r.cat).length
      ? `cat: \`cat FILE; echo CAT-DONE\` typed at the prompt; time from the Enter to the marker; MB/s = file bytes (${fmtInt(r.fileInfo?.bytes)}) / time; after a warm-up run, the runs interleaved per path: ${Object.entries(
          r.cat,
        )
          .map(
            ([k, v]) =>
              `${k} ${v.mbps.map((x) => fmt(x, 1)).join("/")}${v.complete ? "" : " (INCOMPLETE output)"}`,
          )
          .join("; ")}. CPU ms per MB (mean of the counted runs; client = this process): ${Object.entries(
          r.cat,
        )
          .map(
            ([k, v]) =>
              `${k}: ${Object.entries(v.cpuMsPerMB)
                .filter(([, ms]) => ms >= 0.05)
                .sort((x, y) => y[1] - x[1])
                .map(([n, ms]) => `${n} ${fmt(ms, 1)}`)
                .join(", ")}`,
          )
          .join("; ")}.`
      : "",
    Object.keys(r.intr).length
      ? `interrupt: \`cat /dev/urandom | base64\`, after 256 KiB of its output arrived 0x03 is typed (the PTY's line discipline sends SIGINT); time to the prompt. ${Object.entries(
          r.intr,
        )
          .map(
            ([k, v]) =>
              `${k} p50/p99/max ${fmt(v.p50, 1)}/${fmt(v.p99, 1)}/${fmt(v.max, 1)} ms, ${fmtInt(v.bytesAfterP50)} bytes after the ^C (p50)`,
          )
          .join("; ")}.`
      : "",
    Object.keys(r.yes).length
      ? `yes: a first 3 s flood (read, not counted) warms each process up (V8 sizes its young generation on a process's first flood, once); growth = highest VmRSS sample (every 250 ms) during the measured flood − settled RSS before it; not reading = the client stops reading its channel (Tether: MuxChannel.pause(), so no WINDOW is granted; WeTTY: its TCP socket paused) 1 s in. ${Object.entries(
          r.yes,
        )
          .map(
            ([k, v]) =>
              `${k}: ${fmtInt(v.bytes)} bytes in ${fmt(v.seconds, 1)} s, ${Object.entries(v.procs)
                .map(
                  ([n, p]) =>
                    `${n} ${fmtInt(p.coldKiB / 1024)} before the warm-up, ${fmtInt(p.beforeKiB / 1024)}→max ${fmtInt(p.maxKiB / 1024)}→${fmtInt(p.endKiB / 1024)} MB`,
                )
                .join(
                  ", ",
                )}${v.heldBytes === null ? "" : `, ${fmtInt(v.heldBytes)} bytes arrived after reading again`}${v.ended ? `, connection ended: ${v.ended}` : `, ^C → prompt ${fmt(v.interruptMs, 0)} ms`}`,
          )
          .join("; ")}.`
      : "",
    r.shells
      ? `shells: ${r.shells.shells} simulated devices (real ControlClients with their own tunnel layer and terminal capability, ${PROCS} processes, as bench:exec); shells opened 10 at a time, each answered \`echo\` (${fmt(r.shells.openMs / 1000, 1)} s for all); server RSS settled ${fmtInt(r.shells.beforeKiB / 1024)} → ${fmtInt(r.shells.afterKiB / 1024)} MB; the agent processes ${fmtInt(r.shells.agentsBeforeKiB / 1024)} → ${fmtInt(r.shells.agentsAfterKiB / 1024)} MB (${fmtInt((r.shells.agentsAfterKiB - r.shells.agentsBeforeKiB) / r.shells.shells)} KiB per session).${r.wettyShells ? ` WeTTY's server ${fmtInt(r.wettyShells.beforeKiB / 1024)} → ${fmtInt(r.wettyShells.afterKiB / 1024)} MB.` : ""}`
      : "",
    `load: other processes kept ${fmt(results.quiet.foreignCores)} cores busy at the start (after waiting ${fmt(results.quiet.waitedS, 0)} s for < 0.3), and during the rows: ${Object.entries(
      results.foreignCores as Record<string, number>,
    )
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(
        ", ",
      )} (of ${cpus().length}; more than ~0.3 disturbs the wall-clock figures, not the CPU ms per MB).`,
    `code: ${results.commit}${results.uncommitted.length ? ` + ${results.uncommitted.length} uncommitted file(s) under packages/` : ""}.`,
  ];
  Object.assign(results, {
    echo: r.echo,
    cat: r.cat,
    interrupt: r.intr,
    yes: r.yes,
    shells: r.shells,
    wettyShells: r.wettyShells,
  });
  report.finish("terminal", notes, results, QUICK);
}

for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.once(sig, () => {
    rmSync(tmpRoot, { recursive: true, force: true });
    process.exit(130);
  });

try {
  await main();
} finally {
  rmSync(tmpRoot, { recursive: true, force: true });
}
process.exit(0);
