// @matrix: store
// Issue 12, "done when": a line appended to a followed file on a device shows in
// `tether logs -f`; a search finds it later; a forced overflow (the agent's rate limit) shows a
// gap line; and the live tail survives a server restart: the CLI reconnects and resumes from
// the last line it printed, with nothing shown twice or missed.
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { Cli, expectExit, stopClis } from "../support/cli-driver.js";
import { cleanupTempDirs, enrollOnline, startServer, tempDir, waitFor } from "./harness.js";

after(async () => {
  stopClis();
  await cleanupTempDirs();
});

const count = (text: string, needle: string) => text.split(needle).length - 1;

test("a followed file's lines reach tether logs -f live, search finds them, a flood is a gap, a restart loses nothing", async () => {
  let server = await startServer();
  const { httpPort, mqttPort, dataDir: serverDir } = server;
  const logDir = join(tempDir(), "var-log");
  mkdirSync(logDir);
  const appLog = join(logDir, "app.log");
  writeFileSync(appLog, "an old line the agent must not upload\n");
  const { agent } = await enrollOnline(server, {
    name: "robot-1",
    env: {
      AGENT_LOGS: JSON.stringify({ follow: [join(logDir, "*.log")], flushMs: 100, rate: 40, burst: 40 }),
    },
  });
  const cli = new Cli(server);
  const tail = cli.start(["logs", "robot-1", "-f"]);
  try {
    // The agent follows the file from its end: a new line arrives, the old one never does.
    appendFileSync(appLog, "motor controller started: axis calibrated\n");
    await waitFor(() => tail.stdoutSoFar().includes("motor controller started"), "the first line in logs -f");
    // A log rule: the pattern seen once within a minute fires (state kept on ingest, no scans).
    expectExit(
      await cli.run([
        "alerts",
        "rules",
        "create",
        "hot-battery",
        "--log-pattern",
        "battery temperature high: \\d+C",
        "--count",
        "1",
        "--within",
        "1m",
      ]),
      0,
      "alerts rules create --log-pattern",
    );
    // A line written now arrives live, with its level and source.
    appendFileSync(appLog, "WARN battery temperature high: 51C\n");
    await waitFor(() => tail.stdoutSoFar().includes("battery temperature high"), "a live line in logs -f");
    assert.match(tail.stdoutSoFar(), /WARN\s+\[[^\]]*app\.log\] WARN battery temperature high: 51C/);
    assert.doesNotMatch(tail.stdoutSoFar(), /an old line/);

    const fired = await waitFor(async () => {
      const r = await cli.json<{ rule: string; device: string; state: string }[]>([
        "alerts",
        "list",
        "--firing",
      ]);
      return r.length ? r : undefined;
    }, "the log rule fires");
    assert.deepEqual(
      fired.map((a) => [a.rule, a.device, a.state]),
      [["hot-battery", "robot-1", "firing"]],
    );

    // Search finds it later, by a word, by level, and not by a word that is not there.
    const found = await cli.run(["logs", "robot-1", "--grep", "calibrated", "--since", "10m"]);
    expectExit(found, 0, "logs --grep");
    assert.match(found.stdout, /motor controller started: axis calibrated/);
    assert.doesNotMatch(found.stdout, /battery temperature/);
    const warn = await cli.json<{ message: string; level: string }[]>(["logs", "robot-1", "--level", "warn"]);
    assert.deepEqual(
      warn.map((l) => [l.level, l.message]),
      [["warn", "WARN battery temperature high: 51C"]],
    );

    // A flood beyond the agent's rate limit (40 lines/s, burst 40): the excess is dropped, counted,
    // and shown as a gap line naming the file.
    appendFileSync(appLog, Array.from({ length: 400 }, (_, i) => `flood line ${i}\n`).join(""));
    await waitFor(
      () => /-- [\d,]+ lines dropped from [^\n]*app\.log/.test(tail.stdoutSoFar()),
      "the gap line in -f",
    );
    const lines = await cli.json<
      { kind: string; message: string; gap?: { count: number; reason: string } }[]
    >(["logs", "robot-1", "-n", "1000"]);
    const gaps = lines.filter((l) => l.kind === "gap");
    const kept = lines.filter((l) => l.message.startsWith("flood line")).length;
    const dropped = gaps.reduce((n, g) => n + (g.gap?.count ?? 0), 0);
    assert.ok(gaps.length >= 1 && gaps.every((g) => g.gap?.reason === "rate-limit"), JSON.stringify(gaps));
    assert.equal(kept + dropped, 400, `kept ${kept} + dropped ${dropped} = every flood line`);

    // The server restarts under the tail: the CLI says so, reconnects, and resumes after the last
    // line it printed.
    await server.stop();
    await waitFor(
      () => tail.proc.exitCode === null && /connection lost/.test(tail.stderrSoFar()),
      "the tail notices",
    );
    appendFileSync(appLog, "line written while the server was down\n");
    server = await startServer({ dataDir: serverDir, httpPort, mqttPort });
    appendFileSync(appLog, "line written after the restart\n");
    await waitFor(
      () => tail.stdoutSoFar().includes("line written after the restart"),
      "the tail resumes",
      60_000,
    );
    await waitFor(
      () => tail.stdoutSoFar().includes("line written while the server was down"),
      "nothing missed",
    );
    const out = tail.stdoutSoFar();
    for (const s of [
      "motor controller started",
      "battery temperature high",
      "flood line 0\n",
      "while the server was down",
    ]) {
      assert.equal(count(out, s), 1, `"${s}" printed once`);
    }
    tail.proc.kill("SIGINT");
    const r = await tail.result;
    assert.equal(r.code, 0, `Ctrl-C exits 0: ${r.stderr}`);
    assert.match(r.stderr, /reconnected/);
  } finally {
    tail.proc.kill("SIGKILL");
    await agent.kill();
    await server.stop();
  }
});
