// @matrix: store
// Issue 11, "done when": a real agent reading fixture /proc and /sys trees (a battery, a
// thermal zone) sends metrics over the telemetry channel; a network cut, a server restart and
// an agent restart in the middle lose nothing and store nothing twice (every collection round
// of the agent is counted exactly once by the server), `tether metrics get` shows the fixture
// batteries and temperatures, and a buffer forced to overflow during
// the cut shows up as a gap, with its count and reason, in the query API.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { Cli, expectExit, stopClis } from "../support/cli-driver.js";
import { createFaultProxy } from "../support/fault-proxy.js";
import {
  type AgentHandle,
  cleanupTempDirs,
  enrollOnline,
  ROOT,
  type ServerHandle,
  startAgent,
  startServer,
  waitFor,
} from "./harness.js";

after(async () => {
  stopClis();
  await cleanupTempDirs();
});

const FIXTURES = join(ROOT, "packages/agent/test/fixtures/metrics");
const metricsEnv = (interval: number, extra: Record<string, string> = {}) => ({
  AGENT_METRICS: JSON.stringify({
    interval,
    procRoot: join(FIXTURES, "proc"),
    sysRoot: join(FIXTURES, "sys"),
  }),
  ...extra,
});

/** Batches waiting in an agent's telemetry buffer. */
const pending = (dataDir: string) => {
  const dir = join(dataDir, "telemetry", "metrics");
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".json.gz")).length : 0;
};
const sealed = (dataDir: string) =>
  Number(readFileSync(join(dataDir, "telemetry", "metrics", "seq"), "utf8"));

/** Send a stopped agent's telemetry through another port on loopback (a fault proxy). */
function redirectTelemetry(dataDir: string, port: number): void {
  const f = join(dataDir, "identity.json");
  const id = JSON.parse(readFileSync(f, "utf8"));
  id.apiUrl = `https://127.0.0.1:${port}`;
  writeFileSync(f, JSON.stringify(id));
}

async function series(server: ServerHandle, device: string): Promise<string[]> {
  const r = await server.api.request<{ series: { name: string }[] }>(
    "GET",
    `/api/v1/devices/${device}/metrics`,
  );
  return r.status === 200 ? r.body.series.map((s) => s.name) : [];
}

test("every sample exactly once across a network cut and server and agent restarts; an overflow is a gap", async () => {
  const started = new Date(Date.now() - 60_000).toISOString();
  let server = await startServer();
  const { httpPort, mqttPort, dataDir: serverDir } = server;
  const proxy = await createFaultProxy({ targetPort: httpPort });
  const agents: AgentHandle[] = [];
  try {
    // Two devices: "steady" has the default 64 MiB buffer; "tiny" a buffer of a few batches.
    const steadyEnv = metricsEnv(0.2);
    const tinyEnv = metricsEnv(0.05, { AGENT_BUFFER_BYTES: "6000" });
    const first = await enrollOnline(server, { name: "steady", env: steadyEnv });
    const firstTiny = await enrollOnline(server, { name: "tiny", env: tinyEnv });
    agents.push(first.agent, firstTiny.agent);
    await Promise.all([first.agent.stop(), firstTiny.agent.stop()]);
    redirectTelemetry(first.agent.dataDir, proxy.port);
    redirectTelemetry(firstTiny.agent.dataDir, proxy.port);
    const run = (dataDir: string, env: Record<string, string>) => {
      const a = startAgent({ dataDir, env });
      agents.push(a);
      return a;
    };
    let steady = run(first.agent.dataDir, steadyEnv);
    const tiny = run(firstTiny.agent.dataDir, tinyEnv);

    // Battery and temperature from the fixture trees arrive through the proxy.
    await waitFor(async () => {
      const names = await series(server, "steady");
      return names.includes("battery_capacity_percent") && names.includes("temperature_celsius");
    }, "steady's battery and temperature stored");
    await waitFor(
      async () => (await series(server, "tiny")).includes("battery_capacity_percent"),
      "tiny's metrics",
    );
    // What an operator reads: the CLI's table shows both fixture batteries and the temperatures.
    const shown = await new Cli(server).run(["metrics", "get", "steady", "--since", "10m"]);
    expectExit(shown, 0, "tether metrics get steady");
    assert.match(shown.stdout, /battery\s+battery=BAT0\s+87%/);
    assert.match(shown.stdout, /battery\s+battery=axp20x-battery\s+64%/);
    assert.match(shown.stdout, /temperature\s+sensor=cpu-thermal\s+48\.3 °C/);

    // The network goes away: open connections are cut, new ones refused.
    proxy.refuse(true);
    proxy.cut();
    await waitFor(() => pending(steady.dataDir) >= 4 || undefined, "steady buffers while cut off");
    // "tiny" overflows its buffer: the oldest batches go, and a gap record waits for upload.
    await waitFor(
      () => existsSync(join(tiny.dataDir, "telemetry", "metrics", "gaps.json")) || undefined,
      "tiny's buffer overflowed",
    ).catch((err) => {
      const dir = join(tiny.dataDir, "telemetry", "metrics");
      throw new Error(
        `${err.message}\n${existsSync(dir) ? readdirSync(dir).join(" ") : "(no dir)"}\n${tiny.stderr().slice(-3000)}`,
      );
    });

    // The server restarts while the devices are cut off, then the steady agent restarts too.
    await server.stop();
    server = await startServer({ dataDir: serverDir, httpPort, mqttPort });
    await steady.stop();
    steady = run(steady.dataDir, steadyEnv);
    await waitFor(() => pending(steady.dataDir) >= 6 || undefined, "steady buffers after its restart");

    // The network comes back: the buffers drain.
    proxy.refuse(false);
    await waitFor(() => pending(steady.dataDir) <= 1 || undefined, "steady's buffer drains", 60_000);

    // Stop collecting, then let a last run (one more round at start, then quiet) upload the rest.
    await steady.stop();
    steady = run(steady.dataDir, metricsEnv(3600));
    await waitFor(() => pending(steady.dataDir) === 0 || undefined, "every batch uploaded", 60_000);
    const rounds = sealed(steady.dataDir);
    await steady.stop();

    // One uptime_seconds point per collection round: the count over the whole time is the number
    // of batches the agent sealed — none lost, none stored twice.
    const coarse = await server.api.call<{
      series: { points: [number, number | null][] }[];
      gaps: { count: number; reason: string }[];
    }>(
      "GET",
      `/api/v1/metrics/query?device=steady&metric=uptime_seconds&agg=count&since=${encodeURIComponent(started)}&step=1m`,
    );
    const total = coarse.series[0]!.points.reduce((n, [, v]) => n + (v ?? 0), 0);
    assert.equal(total, rounds, `the server counts ${total} samples; the agent sealed ${rounds} rounds`);
    assert.ok(rounds >= 12, `enough rounds to mean something (${rounds})`);
    assert.deepEqual(coarse.gaps, [], "the steady device lost nothing");

    // The tiny buffer's loss is visible: a buffer-full gap with what it dropped.
    const gaps = await waitFor(async () => {
      const r = await server.api.call<{ gaps: { count: number; reason: string; detail?: string }[] }>(
        "GET",
        `/api/v1/metrics/query?device=tiny&metric=uptime_seconds&since=${encodeURIComponent(started)}`,
      );
      return r.gaps.length ? r.gaps : undefined;
    }, "tiny's gap reaches the server");
    assert.equal(gaps[0]!.reason, "buffer-full");
    assert.ok(gaps.reduce((n, g) => n + g.count, 0) > 0, JSON.stringify(gaps));
  } finally {
    // A failed assertion must not leave agents running (they would keep writing to temp dirs).
    await Promise.all(agents.map((a) => a.kill()));
    await server.stop();
    await proxy.close();
  }
});
