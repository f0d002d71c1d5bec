// @matrix: once
// Pieces of the operator's view, in-process: --selector checked with the protocol's one rule
// (usage error, exit 2), the exec queue notes (what a blocking `exec --queue-ttl` says while
// devices are offline), and the exit code of an unreachable server.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiError, type Command, type CommandRun } from "@tether/sdk";
import { Command as Program } from "commander";
import { commandFixture, runFixture, zeroSummary } from "../../../tests/support/exec-fixtures.js";
import { parseSelectorArg } from "../src/args.js";
import { buildProgram, COMMAND_GROUPS, commandWord } from "../src/cli.js";
import { QueueNotes } from "../src/commands/exec.js";
import { CliError, EXIT, exitCodeFor, type Io } from "../src/io.js";

test("--selector: valid ones parse; a bad one is a usage error saying why", () => {
  assert.deepEqual(parseSelectorArg("site=tokyo,fact.arch!=arm64"), [
    { key: "site", op: "=", value: "tokyo" },
    { key: "fact.arch", op: "!=", value: "arm64" },
  ]);
  for (const [s, why] of [
    ["site=", /"site=" has no value/],
    ["=x", /"=x" has no key/],
    ["a", /"a" has no "="/],
    ["site==x", /more than one "="/],
    ["a=b,,c=d", /empty pair/],
    ["", /empty/],
  ] as const) {
    assert.throws(
      () => parseSelectorArg(s),
      (e: unknown) =>
        e instanceof CliError &&
        e.exitCode === EXIT.usage &&
        /^bad --selector: /.test(e.message) &&
        why.test(e.message),
      JSON.stringify(s),
    );
  }
});

test("exit codes: the server unreachable is 255, like a device; a server-refused selector is 2", () => {
  assert.equal(exitCodeFor(new ApiError(0, "TETHER_ERR_UNREACHABLE", "cannot reach")), 255);
  assert.equal(exitCodeFor(new ApiError(409, "TETHER_ERR_DEVICE_OFFLINE", "offline")), 255);
  assert.equal(exitCodeFor(new ApiError(400, "TETHER_ERR_BAD_SELECTOR", "bad")), 2);
  assert.equal(exitCodeFor(new ApiError(400, "TETHER_ERR_BAD_REQUEST", "bad")), 1);
});

test("start: only the named command group is registered; its table matches what registers", () => {
  const io = {} as Io;
  for (const g of COMMAND_GROUPS) {
    const p = new Program();
    g.register(p, { io }, []);
    const real = p.commands.flatMap((c) => [c.name(), ...c.aliases()]);
    assert.deepEqual(real.sort(), [...g.names].sort(), `group ${g.names[0]}`);
  }
  const names = (argv: string[]) => buildProgram({ io }, argv).commands.map((c) => c.name());
  assert.deepEqual(names(["devices", "list"]), ["devices"]);
  assert.deepEqual(names(["--project", "lab", "cmds", "ls"]), ["commands"]);
  assert.deepEqual(names(["whoami"]), ["login", "logout", "whoami"]);
  const all = COMMAND_GROUPS.flatMap((g) => g.names.slice(0, 1));
  for (const argv of [[], ["--help"], ["help", "devices"], ["devcies", "list"], ["--", "x"]])
    assert.ok(
      all.every((n) => names(argv).includes(n)),
      `all for ${JSON.stringify(argv)}`,
    );
  assert.equal(commandWord(["--project", "exec", "ping", "x"]), "ping");
});

// --- exec queue notes ---------------------------------------------------------------------

function run(device: string, status: CommandRun["status"], startedAt: string | null = null): CommandRun {
  return runFixture({ command: "cmd_x", device, deviceId: `dev_${device}`, status, startedAt });
}

function created(queueTtlMs: number, runs: CommandRun[]): Command {
  const summary = { ...zeroSummary(), total: runs.length };
  for (const r of runs) summary[r.status]++;
  return commandFixture({
    id: "cmd_x",
    createdAt: new Date().toISOString(),
    finishedAt: null,
    state: "running",
    argv: ["true"],
    queueTtlMs,
    target: { devices: runs.map((r) => r.device) },
    summary,
    runs,
  });
}

function notes(c: Command, fleet: boolean, now: number) {
  let err = "";
  const io = { stderr: (s: string) => (err += s) } as unknown as Io;
  const q = new QueueNotes({ io }, c, fleet, now);
  return { q, err: () => err };
}

// 09:12 local time today: the deadline's clock reading is predictable.
const at = new Date(2026, 10, 30, 9, 12, 0).getTime();

test("one offline device: queued, for how long, until when, what Ctrl-C does; then started", () => {
  const n = notes(created(2 * 3600_000, [run("robot-7", "queued")]), false, at);
  assert.equal(
    n.err(),
    "tether: robot-7 is offline: queued, waiting up to 2h (until 11:12); Ctrl-C cancels it\n",
  );
  // The replay on connect repeats the queued state: said once.
  n.q.on({ type: "run", run: run("robot-7", "queued") });
  n.q.on({ type: "output", deviceId: "dev_robot-7", device: "robot-7", stream: "stdout", data: "" });
  assert.equal(n.err().split("\n").length, 2);
  n.q.on({ type: "run", run: run("robot-7", "running", new Date().toISOString()) });
  assert.match(n.err(), /\ntether: robot-7 is back: started\n$/);
  n.q.on({ type: "run", run: run("robot-7", "succeeded", new Date().toISOString()) });
  assert.equal((n.err().match(/is back/g) ?? []).length, 1, "once");
});

test("a fleet: one line for how many of how many, then a line per device as it starts", () => {
  const n = notes(
    created(3600_000, [run("a", "sent"), run("b", "queued"), run("c", "queued"), run("d", "running")]),
    true,
    at,
  );
  assert.equal(
    n.err(),
    "tether: 2 of 4 devices are offline: queued, waiting up to 1h (until 10:12); Ctrl-C cancels the command\n",
  );
  n.q.on({ type: "run", run: run("a", "succeeded", new Date().toISOString()) }); // was online
  n.q.on({ type: "run", run: run("c", "sent") });
  assert.match(n.err(), /\ntether: c is back: started\n$/);
  // Expired, never started: the result says so; no "back" line.
  n.q.on({ type: "run", run: run("b", "expired") });
  assert.equal((n.err().match(/is back/g) ?? []).length, 1);
  // A device queued later (its --concurrency turn came while it was offline) gets its own line.
  n.q.on({ type: "run", run: run("e", "queued") });
  assert.match(n.err(), /\ntether: e is offline: queued, waiting up to 1h \(until 10:12\)\n$/);
});

test("nothing is said when every device is online, or without --queue-ttl", () => {
  assert.equal(notes(created(3600_000, [run("a", "sent"), run("b", "running")]), true, at).err(), "");
  assert.equal(notes(created(0, [run("a", "offline")]), false, at).err(), "");
});

test("a wait of a day or more names the date; spans read like the option", () => {
  const day = notes(created(30 * 3600_000, [run("x", "queued")]), false, at);
  assert.match(day.err(), /waiting up to 30h \(until 2026-12-01 15:12\)/);
  const week = notes(created(7 * 86400_000, [run("x", "queued")]), false, at);
  assert.match(week.err(), /waiting up to 7d \(until 2026-12-07 09:12\)/);
  const odd = notes(created(90 * 60_000, [run("x", "queued")]), false, at);
  assert.match(odd.err(), /waiting up to 90m \(until 10:42\)/);
});
