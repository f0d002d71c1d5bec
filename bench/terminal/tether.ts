/**
 * Tether's web-terminal path for bench:terminal: a server in its own process (./server-child.ts),
 * a real `tether agent` in another (the CLI bundled from the sources by esbuild, node-pty kept a
 * real module; BENCH_AGENT_BIN=installed: packages/cli/bin/tether.js, the `npm run build`
 * output), and in this process the SDK's Node client of /api/v1/terminal (`openTerminal`: a
 * `ws` WebSocket with the API token, TunnelMux on channel 0, WINDOW granted as output is read),
 * which is the browser's role: the console speaks the same frames (docs/protocol.md §17.3).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { openTerminal } from "@tether/sdk/node";
import { makeApi } from "../telemetry/http.js";
import { type Child, ROOT, sleep, spawnChild } from "../lib/util.js";
import { SHELL_COMMAND, Sink, type Term } from "./term.js";

export interface TetherServer {
  child: Child;
  pid: number;
  url: string;
  ca: string;
  adminToken: string;
  enrollToken: string;
  /** API tokens of the extra operator users (startServer's `operators`). */
  operatorTokens: string[];
  stop(): Promise<void>;
}

export async function startServer(
  dataDir: string,
  o: { enrollUses: number; tunnels?: Record<string, number>; operators?: number },
): Promise<TetherServer> {
  const child = spawnChild("server", join(ROOT, "bench/terminal/server-child.ts"), [
    JSON.stringify({ dataDir, enrollUses: o.enrollUses, tunnels: o.tunnels, operators: o.operators }),
  ]);
  const r = await child.wait((e) => e.ev === "ready", "server ready");
  return {
    child,
    pid: r.pid,
    url: r.url,
    ca: r.ca,
    adminToken: r.adminToken,
    enrollToken: r.enrollToken,
    operatorTokens: r.operatorTokens,
    stop: () => child.stop(),
  };
}

/** The `tether` CLI from the sources as one ES module file, built now (never a stale build). */
export async function agentCommand(): Promise<{ argv: string[]; label: string }> {
  if (process.env.BENCH_AGENT_BIN === "installed")
    return {
      argv: [join(ROOT, "packages/cli/bin/tether.js")],
      label: "packages/cli/bin/tether.js (npm run build)",
    };
  const { build } = await import("esbuild");
  const dir = join(ROOT, "node_modules/.cache/tether-bench");
  const outfile = join(dir, "tether-terminal.mjs");
  mkdirSync(dir, { recursive: true });
  await build({
    absWorkingDir: join(ROOT, "packages/cli"),
    entryPoints: ["src/main.ts"],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    conditions: ["source"],
    // Never loaded by `tether agent`, or native (node-pty's addon), or worker-thread code.
    external: ["@tether/server", "pino", "better-sqlite3", "node-pty"],
    banner: {
      js: 'import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);',
    },
    logLevel: "warning",
  });
  return { argv: [outfile], label: "tether CLI bundled from source by esbuild" };
}

export interface TetherAgent {
  proc: ChildProcess;
  pid: number;
  name: string;
  stop(): Promise<void>;
}

/** A real agent process, enrolled and online (polls the device until `online`). */
export async function startAgent(
  server: TetherServer,
  cmd: { argv: string[] },
  dataDir: string,
  name: string,
): Promise<TetherAgent> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("TETHER_")) delete env[k];
  const proc = spawn(
    process.execPath,
    [
      ...cmd.argv,
      "agent",
      ...["--url", server.url, "--token", server.enrollToken, "--data", dataDir, "--name", name],
      ...["--log-level", "warn"],
    ],
    { env, stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  proc.stderr!.on("data", (c) => {
    if (err.length < 20_000) err += c;
  });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  // The benchmark interrupted: the agent goes with it.
  const kill = () => proc.kill("SIGKILL");
  process.once("exit", kill);
  const api = makeApi(server.url, server.ca, server.adminToken);
  try {
    for (const deadline = Date.now() + 120_000; ; ) {
      if (proc.exitCode !== null) throw new Error(`the agent exited (${proc.exitCode}):\n${err}`);
      const r = await api.get(`/api/v1/devices/${name}`);
      if (r.status === 200 && r.body?.online) break;
      if (Date.now() > deadline) throw new Error(`the agent was not online within 120 s\n${err}`);
      await sleep(200);
    }
  } finally {
    api.close();
  }
  return {
    proc,
    pid: proc.pid!,
    name,
    async stop() {
      process.off("exit", kill);
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/**
 * A shell on `device` through /api/v1/terminal (PTY 80×30). pause() stops reading channel 0:
 * the client then grants no more window, so the device must stop within one window.
 */
export async function openTether(
  server: TetherServer,
  device: string,
  label = "tether",
  token = server.adminToken,
): Promise<Term> {
  const s = await openTerminal(
    { url: server.url, token, caCert: server.ca, readyTimeoutMs: 30_000 },
    { type: "open", device, command: SHELL_COMMAND, pty: { cols: 80, rows: 30 } },
  );
  const sink = new Sink();
  let ended: string | null = null;
  let closing = false;
  void s.done.then((end) => {
    if (!closing)
      ended = end.exit
        ? `the shell exited (${end.exit.code ?? end.exit.signal})`
        : `${end.error?.code}: ${end.error?.message}`;
  });
  s.channel.on("data", (c: Buffer) => sink.push(c));
  s.channel.on("error", () => {});
  return {
    label,
    write: (d) => s.channel.write(d),
    onData: (fn) => sink.set(fn),
    pause: () => s.channel.pause(),
    resume: () => s.channel.resume(),
    ended: () => ended,
    async close() {
      closing = true;
      s.close();
      await s.done;
    },
  };
}
