/**
 * Agent footprint and freshness rows of bench:telemetry.
 * A server (its own process) and one real `tether agent` process (the CLI bundled from the
 * sources with esbuild into node_modules/.cache/tether-bench, so the run never measures a
 * stale build; BENCH_AGENT_BIN=installed runs packages/cli/bin/tether.js instead) enrolled
 * with an auto-accept token, at the default collection interval. Beside it Debian's
 * prometheus-node-exporter, scraped by curl every interval. Over the same window: CPU seconds
 * (utime + stime from /proc/<pid>/stat, after both have started) and peak RSS (VmHWM, whole
 * life) of each.
 * Freshness, in the same window: the device's metric list (GET /api/v1/devices/{ref}/metrics)
 * is polled every POLL_MS; when the newest cpu_usage_percent sample changes, now − its time
 * (the collector's timestamp, same clock) is one observation (resolution: POLL_MS plus one
 * request).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { progress, ROOT, sleep, spawnChild } from "../lib/util.js";
import { makeApi } from "./http.js";
import { cpuSeconds, memKiB } from "./proc.js";

export const NODE_EXPORTER = "/usr/bin/prometheus-node-exporter";
const POLL_MS = 50;
const DEVICE = "bench-agent";

export interface Footprint {
  windowS: number;
  intervalS: number;
  agentBin: string;
  agent: { cpuS: number; cpuTotalS: number; hwmKiB: number; rssKiB: number };
  exporter: { cpuS: number; hwmKiB: number; rssKiB: number; scrapes: number } | null;
  freshnessMs: number[];
  seriesReported: number;
}

/** The `tether` CLI from the sources as one ES module file (agent included), built now. */
export async function agentCommand(): Promise<{ argv: string[]; label: string }> {
  if (process.env.BENCH_AGENT_BIN === "installed") {
    return {
      argv: [join(ROOT, "packages/cli/bin/tether.js")],
      label: "packages/cli/bin/tether.js (installed build)",
    };
  }
  const { build } = await import("esbuild");
  const outfile = join(ROOT, "node_modules/.cache/tether-bench/tether.mjs");
  mkdirSync(join(ROOT, "node_modules/.cache/tether-bench"), { recursive: true });
  await build({
    absWorkingDir: join(ROOT, "packages/cli"),
    entryPoints: ["src/main.ts"],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    conditions: ["source"],
    // Never loaded by `tether agent`; native or worker-thread code stays a real module.
    external: ["@tether/server", "pino", "better-sqlite3"],
    banner: {
      js: 'import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);',
    },
    logLevel: "warning",
  });
  return { argv: [outfile], label: "tether CLI bundled from source (esbuild, as tools/build-cli.mjs)" };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on("error", reject);
  });
}

export function stopProc(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => p.kill("SIGKILL"), 10_000);
    p.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    p.kill("SIGTERM");
  });
}

/**
 * A real `tether agent` enrolling with `token`, its TETHER_* environment cleared, stderr kept
 * (the first 20 kB) for error messages; `args`: more flags.
 */
export function spawnAgent(
  cmd: { argv: string[] },
  o: { url: string; token: string; dataDir: string; name: string; args?: string[] },
): { proc: ChildProcess; stderr(): string } {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("TETHER_")) delete env[k];
  const proc = spawn(
    process.execPath,
    [
      ...cmd.argv,
      "agent",
      "--url",
      o.url,
      "--token",
      o.token,
      "--data",
      o.dataDir,
      "--name",
      o.name,
      ...(o.args ?? []),
      "--log-level",
      "warn",
    ],
    { env, stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  proc.stderr!.on("data", (c) => {
    if (err.length < 20_000) err += c;
  });
  return { proc, stderr: () => err };
}

export async function agentFootprint(tmpRoot: string, windowS: number, intervalS = 10): Promise<Footprint> {
  const cmd = await agentCommand();
  progress(`footprint: starting a server (child) and one agent (${cmd.label})`);
  const server = spawnChild("fp-server", join(ROOT, "bench/telemetry/server-child.ts"), [
    JSON.stringify({ dataDir: join(tmpRoot, "fp-server"), devices: 0, enrollUses: 1 }),
  ]);
  const ready = await server.wait((e) => e.ev === "ready", "server ready");
  const { proc: agent, stderr } = spawnAgent(cmd, {
    url: ready.url,
    token: ready.enrollToken,
    dataDir: join(tmpRoot, "fp-agent"),
    name: DEVICE,
  });
  const api = makeApi(ready.url, ready.ca, ready.adminToken);
  let exporter: ChildProcess | null = null;
  let curlTimer: NodeJS.Timeout | undefined;
  try {
    // The agent's first samples reach the server: it has its token and uploads.
    progress("footprint: waiting for the agent's first samples on the server");
    const deadline = Date.now() + 120_000;
    let lastAt: number | null = null;
    let seriesReported = 0;
    for (;;) {
      if (agent.exitCode !== null) throw new Error(`the agent exited (${agent.exitCode}):\n${stderr()}`);
      const r = await api.get(`/api/v1/devices/${DEVICE}/metrics`);
      const cpu =
        r.status === 200 ? r.body.series?.find((s: any) => s.name === "cpu_usage_percent") : undefined;
      if (cpu?.lastAt) {
        lastAt = cpu.lastAt;
        seriesReported = r.body.series.length;
        break;
      }
      if (Date.now() > deadline)
        throw new Error(
          `no cpu_usage_percent from the agent within 120 s (last answer ${r.status} ${JSON.stringify(r.body).slice(0, 300)})\n${stderr()}`,
        );
      await sleep(500);
    }
    progress(`footprint: agent uploads (${seriesReported} series)`);

    let exp: Footprint["exporter"] = null;
    let scrapes = 0;
    if (existsSync(NODE_EXPORTER)) {
      const port = await freePort();
      exporter = spawn(NODE_EXPORTER, [`--web.listen-address=127.0.0.1:${port}`], { stdio: "ignore" });
      const scrape = () => {
        const c = spawn("curl", ["-sS", "-o", "/dev/null", `http://127.0.0.1:${port}/metrics`], {
          stdio: "ignore",
        });
        c.on("exit", (code) => {
          if (code === 0) scrapes++;
        });
      };
      await sleep(500);
      scrape();
      curlTimer = setInterval(scrape, intervalS * 1000);
    } else progress(`footprint: ${NODE_EXPORTER} not installed; no peer row`);

    const a0 = cpuSeconds(agent.pid!);
    const e0 = exporter ? cpuSeconds(exporter.pid!) : 0;
    const t0 = Date.now();
    progress(`footprint: measuring for ${windowS} s (freshness polled every ${POLL_MS} ms)`);
    const freshness: number[] = [];
    let lastReport = t0;
    while (Date.now() - t0 < windowS * 1000) {
      const r = await api.get(`/api/v1/devices/${DEVICE}/metrics`);
      const now = Date.now();
      if (r.status === 200) {
        const cpu = r.body.series?.find((s: any) => s.name === "cpu_usage_percent");
        if (cpu?.lastAt && cpu.lastAt !== lastAt) {
          lastAt = cpu.lastAt;
          freshness.push(now - cpu.lastAt);
        }
        seriesReported = r.body.series.length;
      }
      if (now - lastReport > 30_000) {
        lastReport = now;
        progress(
          `footprint: ${Math.round((now - t0) / 1000)}/${windowS} s; agent CPU ${(cpuSeconds(agent.pid!) - a0).toFixed(2)} s; ${freshness.length} fresh samples`,
        );
      }
      await sleep(POLL_MS);
    }
    const windowReal = (Date.now() - t0) / 1000;
    const a1 = cpuSeconds(agent.pid!);
    const am = memKiB(agent.pid!);
    if (exporter) {
      const em = memKiB(exporter.pid!);
      exp = { cpuS: cpuSeconds(exporter.pid!) - e0, hwmKiB: em.hwm, rssKiB: em.rss, scrapes };
    }
    return {
      windowS: windowReal,
      intervalS,
      agentBin: cmd.label,
      agent: { cpuS: a1 - a0, cpuTotalS: a1, hwmKiB: am.hwm, rssKiB: am.rss },
      exporter: exp,
      freshnessMs: freshness,
      seriesReported,
    };
  } finally {
    clearInterval(curlTimer);
    api.close();
    if (exporter) await stopProc(exporter);
    await stopProc(agent);
    await server.stop();
  }
}
