// @matrix: store broker
/**
 * Remote execution when things die (docs/protocol.md §13): a command never runs twice, an
 * agent killed mid-command reports it lost, a server killed with 100 commands in flight
 * ends with every one in its true final state, output survives a broken connection, and a
 * command printing a gigabyte exhausts nothing.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  createCommand as run,
  finishedCommand as finished,
  showCommand as show,
} from "../support/api-lookups.js";
import { Cli, stopClis } from "../support/cli-driver.js";
import { alive, peakRssKiB } from "../support/processes.js";
import {
  type AgentHandle,
  cleanupTempDirs,
  device,
  enrollBehindProxy,
  enrollOnline,
  freePort,
  startAgent,
  startServer,
  tempDir,
  waitFor,
} from "./harness.js";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("exec durability", () => {
  const running: { stop(): Promise<unknown> }[] = [];
  after(async () => {
    stopClis();
    for (const r of running.reverse()) await r.stop().catch(() => {});
    await cleanupTempDirs();
  });

  test("an agent killed -9 mid-command reports it lost, kills its process group and never re-runs it", async () => {
    const server = await startServer();
    running.push(server);
    const { agent } = await enrollOnline(server, { name: "lost-1" });
    const dir = tempDir();
    const c = await run(server, {
      devices: ["lost-1"],
      argv: [`echo run >> ${dir}/runs; sleep 300 & echo $! > ${dir}/child; wait`],
      shell: true,
      timeoutMs: 600_000,
    });
    await waitFor(
      () => existsSync(join(dir, "child")) && readFileSync(join(dir, "child"), "utf8").trim(),
      "child started",
    );
    const child = Number(readFileSync(join(dir, "child"), "utf8"));
    await waitFor(async () => (await show(server, c.id)).runs?.[0].status === "running", "running");
    await agent.kill();
    assert.ok(alive(child), "the command outlives a kill -9 of the agent");

    const again: AgentHandle = startAgent({ dataDir: agent.dataDir });
    running.push(again);
    const done = await finished(server, c.id);
    const r = done.runs![0];
    assert.equal(r.status, "lost");
    assert.match(r.error ?? "", /not run again/);
    await waitFor(() => !alive(child), "the orphaned process group is killed");
    // A later command completing proves the restarted agent processed everything before it.
    const later = await finished(server, (await run(server, { devices: ["lost-1"], argv: ["true"] })).id);
    assert.equal(later.runs![0].status, "succeeded");
    assert.equal(readFileSync(join(dir, "runs"), "utf8"), "run\n", "it ran exactly once");
  });

  test("a server killed -9 with 100 commands in flight: each ends in its true state and none ran twice", async () => {
    const httpPort = await freePort();
    const mqttPort = await freePort();
    const dataDir = join(tempDir(), "server");
    const server = await startServer({ dataDir, httpPort, mqttPort });
    running.push(server);
    await enrollOnline(server, { name: "many-a" });
    await enrollOnline(server, { name: "many-b" });
    const dir = tempDir();
    const log = join(dir, "log");
    const ids: string[] = [];
    for (let i = 0; i < 100; i += 10) {
      const batch = await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          run(server, {
            devices: [(i + j) % 2 ? "many-b" : "many-a"],
            argv: [`echo $N >> ${log}; echo out-$N; sleep 1.5`],
            shell: true,
            env: { N: String(i + j) },
            queueTtlMs: 600_000,
          }),
        ),
      );
      ids.push(...batch.map((c) => c.id));
    }
    await waitFor(() => existsSync(log) && readFileSync(log, "utf8").split("\n").length > 10, "some started");
    await server.kill();

    const back = await startServer({ dataDir, httpPort, mqttPort });
    running.push(back);
    const finals = [];
    for (const id of ids) finals.push(await finished(back, id, 120_000));
    const lines = readFileSync(log, "utf8").trim().split("\n");
    assert.equal(lines.length, 100, "100 commands, 100 runs: none twice, none skipped");
    assert.deepEqual(
      lines.map(Number).sort((a, b) => a - b),
      Array.from({ length: 100 }, (_, i) => i),
    );
    for (const [i, c] of finals.entries()) {
      const r = c.runs![0];
      assert.equal(r.status, "succeeded", `command ${i}: ${r.status} ${r.error ?? ""}`);
      assert.equal(r.stdout, `out-${i}\n`, `command ${i}: its output survived the restart`);
    }
  });

  test("tether exec rides out a server restart: full output once, the remote exit code", async () => {
    const httpPort = await freePort();
    const mqttPort = await freePort();
    const dataDir = join(tempDir(), "server");
    const server = await startServer({ dataDir, httpPort, mqttPort });
    running.push(server);
    await enrollOnline(server, { name: "follow-1" });
    const gate = join(tempDir(), "gate");
    const follow = new Cli(server).start([
      "exec",
      "follow-1",
      "--shell",
      "--",
      `echo before; while [ ! -e ${gate} ]; do sleep 0.1; done; echo after; exit 7`,
    ]);
    await waitFor(() => follow.stdoutSoFar().includes("before"), "first output line");
    await server.kill();
    writeFileSync(gate, ""); // the command finishes while the server is down
    const back = await startServer({ dataDir, httpPort, mqttPort });
    running.push(back);
    const r = await follow.result;
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, "before\nafter\n", "each byte once, across the reconnect");
    assert.match(r.stderr, /reconnecting/);
  });

  test("output is complete and in order across a broken connection (credit window + resend)", async () => {
    const server = await startServer();
    running.push(server);
    const { agent: a2, proxy } = await enrollBehindProxy(server, {
      name: "cut-1",
      env: { AGENT_BACKOFF_MAX_MS: "1000" },
    });
    running.push({ stop: () => proxy.close() }, a2);

    const script = "for i in $(seq 1 30); do seq $i 4000; sleep 0.1; done";
    const expected = execFileSync("/bin/sh", ["-c", script], { maxBuffer: 64 << 20 });
    const c = await run(server, { devices: ["cut-1"], argv: [script], shell: true, outputLimit: 8 << 20 });
    await waitFor(
      async () => ((await show(server, c.id)).runs?.[0].stdout?.length ?? 0) > 100_000,
      "output flowing",
    );
    proxy.cut();
    const done = await finished(server, c.id);
    const r = done.runs![0];
    assert.equal(r.status, "succeeded");
    assert.ok(/reconnecting after backoff/.test(a2.stderr()), "the connection really broke");
    assert.equal(r.stdoutBytes, expected.length);
    assert.equal(sha(Buffer.from(r.stdout!, "utf8")), sha(expected), "every byte, once, in order");
  });

  test("a command printing a gigabyte keeps the limit and exhausts neither agent nor server", async () => {
    const server = await startServer();
    running.push(server);
    const { agent } = await enrollOnline(server, { name: "flood-1" });
    const c = await run(server, {
      devices: ["flood-1"],
      argv: ["head -c 1073741824 /dev/zero; echo tail >&2"],
      shell: true,
      timeoutMs: 300_000,
    });
    const done = await finished(server, c.id, 300_000);
    const r = done.runs![0];
    assert.equal(r.status, "succeeded");
    assert.equal(r.stdoutBytes, 1 << 20, "the default limit: 1 MiB kept");
    assert.equal(r.stdoutTruncated, true);
    assert.equal(Buffer.from(r.stdout!, r.stdoutEncoding === "base64" ? "base64" : "utf8").length, 1 << 20);
    // Memory is bounded by the window and the limit, not by the output (1 GiB).
    assert.ok(peakRssKiB(agent.proc.pid!) < 400_000, `agent peak RSS ${peakRssKiB(agent.proc.pid!)} KiB`);
    assert.ok(peakRssKiB(server.proc.pid!) < 600_000, `server peak RSS ${peakRssKiB(server.proc.pid!)} KiB`);
  });

  test("revoking a device cancels its queued commands", async () => {
    const server = await startServer();
    running.push(server);
    const { agent } = await enrollOnline(server, { name: "rev-1" });
    await agent.stop();
    await waitFor(async () => !(await device(server.api, "rev-1")).online, "offline");
    const c = await run(server, { devices: ["rev-1"], argv: ["true"], queueTtlMs: 3_600_000 });
    assert.equal(c.runs?.[0].status, "queued");
    await server.api.call("POST", "/api/v1/devices/rev-1/revoke");
    const done = await finished(server, c.id);
    assert.equal(done.runs![0].status, "cancelled");
    assert.match(done.runs![0].error ?? "", /revoked/);
  });
});
