// @matrix: once
/**
 * `tether exec` and `tether commands` end to end (docs/protocol.md §13): the real CLI as a
 * subprocess against a real server process and real agent processes. Output bytes, exit
 * codes, timeouts and cancels that kill whole process groups, stdin, output limits, refusals
 * by role and by exec user, fleets by selector with summaries, --max-failures and
 * --concurrency, offline devices with and without a queue TTL, history and the audit log.
 * Every wait is on a condition (the API's state, a file, a process), never a sleep.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { commandMentioning, commandsOf, runOf, userToken } from "../support/api-lookups.js";
import { Cli, expectExit, stopClis } from "../support/cli-driver.js";
import { killLeftovers, pidsIn, waitGone } from "../support/processes.js";
import {
  type AgentHandle,
  cleanupTempDirs,
  enrollOnline,
  type ServerHandle,
  startAgent,
  startServer,
  tempDir,
  waitFor,
} from "./harness.js";

const CMD_ID = /^cmd_[a-z0-9]{20}$/;

const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

after(async () => {
  stopClis();
  killLeftovers();
  await cleanupTempDirs();
});

describe("tether exec on one device", { concurrency: 1 }, () => {
  let server: ServerHandle;
  let cli: Cli;
  let solo: AgentHandle | undefined;
  /** Taken offline and brought back by the --queue-ttl test. */
  let nomad: AgentHandle;
  const work = tempDir("exec-cli-work-");

  before(async () => {
    // Expiry sweeps every 200 ms, so a 2 s queue TTL is seen to pass soon after.
    server = await startServer({ env: { TETHER_EXEC_SWEEP_MS: "200" } });
    cli = new Cli(server);
    [solo, nomad] = (
      await Promise.all([enrollOnline(server, { name: "solo" }), enrollOnline(server, { name: "nomad" })])
    ).map((e) => e.agent);
  });
  after(async () => {
    await Promise.all([solo?.stop(), nomad?.stop()]);
    await server?.stop();
  });

  test("argv runs without a shell, --shell through /bin/sh -c; stdout exactly, exit 0", async () => {
    const [hello, literal, shell] = await Promise.all([
      cli.run(["exec", "solo", "--", "echo", "hello"]),
      cli.run(["exec", "solo", "--", "echo", "$HOME"]),
      cli.run(["exec", "solo", "--shell", "--", "echo $((6*7))"]),
    ]);
    expectExit(hello, 0);
    assert.equal(hello.stdout, "hello\n");
    assert.equal(hello.stderr, "");
    expectExit(literal, 0);
    assert.equal(literal.stdout, "$HOME\n", "no shell: $HOME is not expanded");
    expectExit(shell, 0);
    assert.equal(shell.stdout, "42\n");
  });

  test("stderr and the exit code pass through; killed by a signal is 128+N", async () => {
    const [r, killed] = await Promise.all([
      cli.run(["exec", "solo", "--shell", "--", "echo out; echo err >&2; exit 3"]),
      cli.run(["exec", "solo", "--shell", "--", "kill -TERM $$"]),
    ]);
    expectExit(r, 3);
    assert.equal(r.stdout, "out\n");
    assert.match(r.stderr, /^err$/m);
    expectExit(killed, 143);
    assert.match(killed.stderr, /solo: killed by SIGTERM/);
  });

  test("--json: one object with the result; invalid UTF-8 comes back base64; raw bytes pass through", async () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x61, 0x62, 0x63]);
    const printf = "printf '\\377\\376\\000abc'";
    const [text, binary, raw] = await Promise.all([
      cli.run(["exec", "solo", "--json", "--shell", "--", "echo hi; echo oops >&2"]),
      cli.run(["exec", "solo", "--json", "--shell", "--", printf]),
      cli.run(["exec", "solo", "--shell", "--", printf]),
    ]);
    expectExit(text, 0);
    const o = JSON.parse(text.stdout);
    assert.ok(!Array.isArray(o), "one device: one object");
    for (const k of [
      "device",
      "status",
      "exitCode",
      "signal",
      "stdout",
      "stderr",
      "stdoutEncoding",
      "stderrEncoding",
      "stdoutTruncated",
      "stderrTruncated",
      "startedAt",
      "durationMs",
    ])
      assert.ok(k in o, `--json has ${k}: ${text.stdout}`);
    assert.equal(o.device, "solo");
    assert.equal(o.status, "succeeded");
    assert.equal(o.exitCode, 0);
    assert.equal(o.signal, null);
    assert.equal(o.stdout, "hi\n");
    assert.equal(o.stderr, "oops\n");
    assert.equal(o.stdoutEncoding, "utf8");
    assert.equal(o.stderrEncoding, "utf8");
    assert.equal(o.stdoutTruncated, false);
    assert.equal(o.stderrTruncated, false);
    assert.ok(!Number.isNaN(Date.parse(o.startedAt)), `startedAt ${o.startedAt}`);
    assert.ok(Number.isInteger(o.durationMs) && o.durationMs >= 0, `durationMs ${o.durationMs}`);

    expectExit(binary, 0);
    const b = JSON.parse(binary.stdout);
    assert.equal(b.stdoutEncoding, "base64");
    assert.deepEqual(Buffer.from(b.stdout, "base64"), bytes);
    assert.equal(b.stdoutBytes, bytes.length);

    expectExit(raw, 0);
    assert.deepEqual(raw.out, bytes, "without --json the bytes reach stdout unchanged");
  });

  test("--timeout kills the whole process group: exit 124, timed_out; bad timeouts are usage errors", async () => {
    const pidFile = join(work, "timeout.pids");
    const r = await cli.run([
      "exec",
      "solo",
      "--timeout",
      "1s",
      "--shell",
      "--",
      // The background child ignores SIGTERM and holds no pipe: only the group SIGKILL ends it.
      `(trap "" TERM; exec sleep 300) >/dev/null 2>&1 & echo $! $$ > ${pidFile}; sleep 300`,
    ]);
    expectExit(r, 124);
    assert.match(r.stderr, /solo: timed out/);
    const pids = await pidsIn(pidFile);
    const list = await cli.json<any[]>(["commands", "list"]);
    const mine = list.find((c) => c.argv.join(" ").includes(pidFile));
    assert.ok(mine, "the command is in the history");
    assert.match(mine.id, CMD_ID);
    const shown = await cli.json(["commands", "show", mine.id]);
    assert.equal(shown.runs[0].status, "timed_out");
    assert.equal(shown.timeoutMs, 1000);
    // The shell and its background child both die (SIGTERM to the group, then SIGKILL).
    await waitGone(pids, "the timed-out shell and its background sleep to be gone");

    const before = (await commandsOf(server)).length;
    const marker = join(work, "bad-timeout");
    const [zero, huge] = await Promise.all([
      cli.run(["exec", "solo", "--timeout", "0", "--", "touch", marker]),
      cli.run(["exec", "solo", "--timeout", "25h", "--", "touch", marker]),
    ]);
    expectExit(zero, 2);
    assert.match(zero.stderr, /--timeout must be more than zero/);
    expectExit(huge, 2);
    assert.match(huge.stderr, /--timeout 25h is too long: at most 24h/);
    assert.equal((await commandsOf(server)).length, before, "no command was created");
    assert.equal(existsSync(marker), false);
  });

  test("--cwd, --env; a missing directory or a file that is no program is 126, an unknown program 127", async () => {
    const [cwd, noDir, env, noProg, notExecutable] = await Promise.all([
      cli.run(["exec", "solo", "--cwd", "/tmp", "--", "pwd"]),
      cli.run(["exec", "solo", "--cwd", "/nonexistent", "--", "pwd"]),
      cli.run(["exec", "solo", "--env", "A=1", "--env", "B=two", "--", "sh", "-c", "echo $A$B"]),
      cli.run(["exec", "solo", "--", "no-such-program-4711"]),
      cli.run(["exec", "solo", "--", "/etc/passwd"]),
    ]);
    expectExit(cwd, 0);
    assert.equal(cwd.stdout, "/tmp\n");
    expectExit(noDir, 126);
    assert.match(noDir.stderr, /\/nonexistent/);
    assert.equal(noDir.stdout, "");
    expectExit(env, 0);
    assert.equal(env.stdout, "1two\n");
    expectExit(noProg, 127);
    assert.match(noProg.stderr, /no-such-program-4711: command not found/);
    expectExit(notExecutable, 126);
    assert.match(notExecutable.stderr, /\/etc\/passwd: permission denied/);
  });

  test("--stdin sends the CLI's input (at most 128 KiB)", async () => {
    const max = randomBytes(128 * 1024);
    const [small, full, tooBig] = await Promise.all([
      cli.run(["exec", "solo", "--stdin", "--", "wc", "-c"], { input: "abcdef" }),
      cli.run(["exec", "solo", "--stdin", "--", "sha256sum"], { input: max }),
      cli.run(["exec", "solo", "--stdin", "--", "wc", "-c"], { input: randomBytes(128 * 1024 + 1) }),
    ]);
    expectExit(small, 0);
    assert.equal(small.stdout.trim(), "6");
    expectExit(full, 0);
    assert.equal(full.stdout, `${sha256(max)}  -\n`, "128 KiB arrive intact");
    expectExit(tooBig, 2);
    assert.match(tooBig.stderr, /stdin is larger than 128 KiB/);
  });

  test("--output-limit truncates (and says so); big output within the limit arrives complete", async () => {
    const flood = "head -c 100000 /dev/zero | tr '\\0' x";
    const [text, json, big] = await Promise.all([
      cli.run(["exec", "solo", "--output-limit", "1k", "--shell", "--", flood]),
      cli.run(["exec", "solo", "--output-limit", "1k", "--json", "--shell", "--", flood]),
      cli.run(["exec", "solo", "--", "seq", "1", "150000"]),
    ]);
    expectExit(text, 0);
    assert.equal(text.out.length, 1024);
    assert.deepEqual(text.out, Buffer.alloc(1024, "x"));
    assert.match(text.stderr, /stdout truncated: kept the first 1024 bytes/);
    expectExit(json, 0);
    const o = JSON.parse(json.stdout);
    assert.equal(o.stdoutTruncated, true);
    assert.equal(o.stdoutBytes, 1024);
    assert.equal(o.stdout, "x".repeat(1024));
    assert.equal(o.stderrTruncated, false);

    // ~917 KiB: well past the 256 KiB credit window, under the default 1 MiB limit.
    expectExit(big, 0);
    let want = "";
    for (let i = 1; i <= 150000; i++) want += `${i}\n`;
    assert.equal(big.out.length, Buffer.byteLength(want));
    assert.equal(sha256(big.out), sha256(want), "every byte, in order");
    assert.equal(big.stderr, "");
  });

  test("bad input: empty command, unknown device, empty selector, DEVICE with --selector", async () => {
    const before = (await commandsOf(server)).length;
    const [empty, blank, unknown, none, both] = await Promise.all([
      cli.run(["exec", "solo", "--"]),
      cli.run(["exec", "solo", "--shell", "--", "  "]),
      cli.run(["exec", "no-such-device", "--", "true"]),
      cli.run(["exec", "--selector", "site=nowhere", "--", "true"]),
      cli.run(["exec", "--selector", "a=b", "solo", "--", "true"]),
    ]);
    expectExit(empty, 2);
    assert.match(empty.stderr, /the command is empty/);
    expectExit(blank, 2);
    assert.match(blank.stderr, /the command is empty/);
    expectExit(unknown, 255);
    assert.match(unknown.stderr, /no-such-device/);
    expectExit(none, 255);
    assert.match(none.stderr, /no accepted device matches the selector "site=nowhere"/);
    expectExit(both, 2);
    assert.match(both.stderr, /with --selector\/--device\/--all name no DEVICE/);
    assert.equal((await commandsOf(server)).length, before, "no command was created");
  });

  test("refused (125): a viewer, an operator with --all, a --user the project does not allow", async () => {
    const [viewer, operator] = await Promise.all([
      userToken(server, "watcher", "viewer"),
      userToken(server, "oper", "operator"),
    ]);
    const before = (await commandsOf(server)).length;
    const marker = join(work, "refused");
    const [asViewer, opAll, badUser] = await Promise.all([
      cli.run(["exec", "solo", "--", "touch", marker], { token: viewer }),
      cli.run(["exec", "--all", "--", "touch", marker], { token: operator }),
      cli.run(["exec", "solo", "--user", "someone", "--", "touch", marker]),
    ]);
    expectExit(asViewer, 125);
    assert.match(asViewer.stderr, /needs the operator role/);
    expectExit(opAll, 125);
    assert.match(opAll.stderr, /needs the admin role/);
    expectExit(badUser, 125);
    assert.match(badUser.stderr, /allows no --user/);
    assert.equal((await commandsOf(server)).length, before, "no command was created");
    assert.equal(existsSync(marker), false, "nothing ran");

    // The operator may run commands on a named device.
    const ok = await cli.run(["exec", "solo", "--", "echo", "operator"], { token: operator });
    expectExit(ok, 0);
    assert.equal(ok.stdout, "operator\n");
    const viewerSees = await cli.json<any[]>(["commands", "list"], { token: viewer });
    assert.equal(viewerSees[0].createdBy, "oper", "a viewer may read the history");
  });

  test("--user: only users the project allows (tether projects exec-users)", {
    skip: process.getuid?.() === 0 ? false : "the agent does not run as root here; --user needs a root agent",
  }, async () => {
    const set = await cli.run(["projects", "exec-users", "root"]);
    expectExit(set, 0);
    assert.match(set.stdout, /commands may run as: root/);
    const [root, nobody, shown] = await Promise.all([
      cli.run(["exec", "solo", "--user", "root", "--", "id", "-un"]),
      cli.run(["exec", "solo", "--user", "nobody", "--", "id", "-un"]),
      cli.json(["projects", "exec-users"]),
    ]);
    expectExit(root, 0);
    assert.equal(root.stdout, "root\n");
    expectExit(nobody, 125);
    assert.match(nobody.stderr, /may run as root only, not nobody/);
    assert.deepEqual(shown, { execUsers: ["root"] });

    // Allowed, a user gets its own uid, gid and HOME.
    expectExit(await cli.run(["projects", "exec-users", "root", "nobody"]), 0);
    const home = readFileSync("/etc/passwd", "utf8").match(/^nobody:[^:]*:\d+:\d+:[^:]*:([^:]*):/m)?.[1];
    const asNobody = await cli.run([
      "exec",
      "solo",
      "--user",
      "nobody",
      "--shell",
      "--",
      "id -un; id -gn; echo $HOME",
    ]);
    expectExit(asNobody, 0);
    const group = asNobody.stdout.split("\n")[1];
    assert.equal(asNobody.stdout, `nobody\n${group}\n${home}\n`);
    assert.notEqual(group, "root");
    const clear = await cli.run(["projects", "exec-users", "--clear"]);
    expectExit(clear, 0);
    assert.match(clear.stdout, /agent's own user only/);
  });

  test("offline: 255 at once; queued until it returns; expired after its TTL and then never run", async () => {
    await nomad.stop();
    await waitFor(async () => {
      const d = await server.api.call<any>("GET", "/api/v1/devices/nomad");
      return d.online === false;
    }, "nomad offline");

    const off = await cli.run(["exec", "nomad", "--", "true"]);
    expectExit(off, 255);
    assert.match(off.stderr, /nomad: offline/);

    const ran = join(work, "queued-ran");
    const never = join(work, "expired-ran");
    const [q, x] = await Promise.all([
      cli.run(["exec", "nomad", "--queue-ttl", "2h", "--detach", "--", "touch", ran]),
      cli.run(["exec", "nomad", "--queue-ttl", "2s", "--detach", "--", "touch", never]),
    ]);
    expectExit(q, 0);
    expectExit(x, 0);
    const queuedId = q.stdout.trim();
    const expiringId = x.stdout.trim();
    assert.match(queuedId, CMD_ID);
    assert.match(expiringId, CMD_ID);
    // An attached exec waits for the device too.
    const waiting = cli.start(["exec", "nomad", "--queue-ttl", "2h", "--", "echo", "worth the wait"]);
    await commandMentioning(server, "worth the wait");

    const queued = await cli.json(["commands", "show", queuedId]);
    assert.equal(queued.runs[0].status, "queued");
    assert.equal(queued.state, "running");
    await waitFor(
      async () => (await runOf(server, expiringId)).status === "expired",
      "the 2 s command expired",
    );
    const expired = await cli.json(["commands", "show", expiringId]);
    assert.equal(expired.runs[0].status, "expired");
    assert.match(expired.runs[0].error, /never ran/);
    assert.equal(expired.state, "done");
    assert.equal((await runOf(server, queuedId)).status, "queued", "the 2 h one still waits");

    nomad = startAgent({ dataDir: nomad.dataDir });
    await waitFor(async () => (await runOf(server, queuedId)).status === "succeeded", "queued command ran");
    assert.ok(existsSync(ran));
    const w = await waiting.result;
    expectExit(w, 0);
    assert.equal(w.stdout, "worth the wait\n");

    // A later command completes: everything sent before it has been handled by the agent.
    const later = await cli.run(["exec", "nomad", "--", "echo", "later"]);
    expectExit(later, 0);
    assert.equal(later.stdout, "later\n");
    assert.equal(existsSync(never), false, "the expired command never ran");
    assert.equal((await runOf(server, expiringId)).status, "expired");
  });
});

describe("tether exec on a fleet; history, cancel, audit", { concurrency: 1 }, () => {
  let server: ServerHandle;
  let cli: Cli;
  const agents: AgentHandle[] = [];
  const work = tempDir("exec-cli-fleet-");
  const NAMES = ["fa1", "fa2", "fb1"];
  /** Commands the cancel test cancelled with `tether commands cancel` (the audit test looks for them). */
  const cancelled: string[] = [];

  before(async () => {
    server = await startServer();
    cli = new Cli(server);
    const labels: Record<string, Record<string, string>> = {
      fa1: { site: "a", group: "fleet" },
      fa2: { site: "a", group: "fleet" },
      fb1: { site: "b", group: "fleet" },
    };
    for (const e of await Promise.all(
      NAMES.map((name) =>
        enrollOnline(server, { name, labels: labels[name], env: { EXEC_TEST_NAME: name } }),
      ),
    ))
      agents.push(e.agent);
  });
  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await server?.stop();
  });

  /** `[n] HH:MM:SS [LABEL] NAME...` blocks of the grouped fleet output, and the summary. */
  function parseFleet(stdout: string): {
    blocks: { n: number; label: string; name: string; tail: string; lines: string[] }[];
    summary: string;
  } {
    const lines = stdout.split("\n");
    assert.equal(lines.pop(), "", "output ends with a newline");
    const summary = lines.pop() ?? "";
    const blocks: { n: number; label: string; name: string; tail: string; lines: string[] }[] = [];
    for (const l of lines) {
      const m = /^\[(\d+)\] \d\d:\d\d:\d\d \[([A-Z]+)\] (\S+)(.*)$/.exec(l);
      if (m) blocks.push({ n: Number(m[1]), label: m[2], name: m[3], tail: m[4], lines: [] });
      else {
        assert.ok(blocks.length, `output before the first device header: ${l}`);
        blocks.at(-1)!.lines.push(l);
      }
    }
    return { blocks, summary };
  }

  test("--selector: output grouped per device, a summary, exit 0; --json; --device twice", async () => {
    const hi = ["--shell", "--", "echo hi from $EXEC_TEST_NAME"];
    const [text, json, named] = await Promise.all([
      cli.run(["exec", "--selector", "site=a", ...hi]),
      cli.run(["exec", "--selector", "site=a", "--json", ...hi]),
      cli.run(["exec", "--device", "fa1", "--device", "fb1", "--json", ...hi]),
    ]);
    expectExit(text, 0);
    const { blocks, summary } = parseFleet(text.stdout);
    assert.deepEqual(
      blocks.map((b) => b.n),
      [1, 2],
    );
    assert.deepEqual(blocks.map((b) => b.name).sort(), ["fa1", "fa2"]);
    for (const b of blocks) {
      assert.equal(b.label, "SUCCESS");
      assert.equal(b.tail, "");
      assert.deepEqual(b.lines, [`hi from ${b.name}`]);
    }
    assert.match(summary, /^cmd_[a-z0-9]{20}: 2 succeeded, 0 failed, 0 timed out, 0 offline \(of 2\)$/);
    assert.match(text.stderr, /^tether: cmd_[a-z0-9]{20} on 2 device\(s\)$/m);

    expectExit(json, 0);
    const arr = JSON.parse(json.stdout);
    assert.ok(Array.isArray(arr));
    assert.equal(arr.length, 2);
    assert.deepEqual(arr.map((r: any) => r.device).sort(), ["fa1", "fa2"]);
    for (const r of arr) {
      assert.equal(r.status, "succeeded");
      assert.equal(r.stdout, `hi from ${r.device}\n`);
    }

    expectExit(named, 0);
    const n = JSON.parse(named.stdout);
    assert.deepEqual(n.map((r: any) => [r.device, r.stdout]).sort(), [
      ["fa1", "hi from fa1\n"],
      ["fb1", "hi from fb1\n"],
    ]);
  });

  test("one failing device makes the exit code 1; --prefix prints live lines per device", async () => {
    const [mixed, prefixed] = await Promise.all([
      cli.run([
        "exec",
        "--selector",
        "group=fleet",
        "--shell",
        "--",
        'echo on $EXEC_TEST_NAME; test "$EXEC_TEST_NAME" != fa2',
      ]),
      cli.run([
        "exec",
        "--selector",
        "site=a",
        "--prefix",
        "--shell",
        "--",
        "echo one; echo two >&2; printf three",
      ]),
    ]);
    expectExit(mixed, 1);
    const { blocks, summary } = parseFleet(mixed.stdout);
    const by = new Map(blocks.map((b) => [b.name, b]));
    assert.deepEqual([...by.keys()].sort(), NAMES);
    assert.equal(by.get("fa2")!.label, "FAILURE");
    assert.equal(by.get("fa2")!.tail, " Exited with error code 1");
    assert.deepEqual(by.get("fa2")!.lines, ["on fa2"]);
    for (const ok of ["fa1", "fb1"]) {
      assert.equal(by.get(ok)!.label, "SUCCESS");
      assert.deepEqual(by.get(ok)!.lines, [`on ${ok}`]);
    }
    assert.match(summary, /: 2 succeeded, 1 failed, 0 timed out, 0 offline \(of 3\)$/);

    expectExit(prefixed, 0);
    for (const d of ["fa1", "fa2"]) {
      const mine = prefixed.stdout.split("\n").filter((l) => l.startsWith(`${d}: `));
      assert.deepEqual(mine, [`${d}: one`, `${d}: three`], `stdout lines of ${d}:\n${prefixed.stdout}`);
      assert.match(prefixed.stderr, new RegExp(`^${d}: two$`, "m"));
      assert.match(prefixed.stdout, new RegExp(`^\\[\\d\\] \\d\\d:\\d\\d:\\d\\d \\[SUCCESS\\] ${d}$`, "m"));
    }
    assert.doesNotMatch(prefixed.stdout, /^fb1/m);
    assert.match(prefixed.stdout, /: 2 succeeded, 0 failed, 0 timed out, 0 offline \(of 2\)\n$/);
  });

  test("--max-failures 1 --concurrency 1: after the first failure the rest are skipped", async () => {
    const marker = join(work, "ran-after-failure");
    const r = await cli.run([
      "exec",
      "--selector",
      "group=fleet",
      "--max-failures",
      "1",
      "--concurrency",
      "1",
      "--shell",
      "--",
      `echo $EXEC_TEST_NAME >> ${marker}; exit 7`,
    ]);
    expectExit(r, 1);
    const { blocks, summary } = parseFleet(r.stdout);
    assert.deepEqual(
      blocks.map((b) => [b.n, b.label]),
      [
        [1, "FAILURE"],
        [2, "SKIPPED"],
        [3, "SKIPPED"],
      ],
    );
    assert.deepEqual(blocks.map((b) => b.name).sort(), NAMES);
    const first = blocks[0].name;
    assert.equal(blocks[0].tail, " Exited with error code 7");
    assert.match(summary, /: 0 succeeded, 1 failed, 0 timed out, 0 offline, 2 skipped \(of 3\)$/);
    assert.equal(readFileSync(marker, "utf8"), `${first}\n`, "only the first device ran it");
    const id = summary.split(":")[0];
    const shown = await cli.json(["commands", "show", id]);
    assert.deepEqual(
      shown.runs.map((x: any) => [x.device, x.status, x.exitCode]).sort(),
      NAMES.map((n) => (n === first ? [n, "failed", 7] : [n, "skipped", null])),
    );
    const skipped = shown.runs.filter((x: any) => x.status === "skipped");
    for (const x of skipped) {
      assert.match(x.error, /max-failures/);
      assert.equal(x.startedAt, null, "never started");
    }
    assert.equal(shown.maxFailures, 1);
    assert.equal(shown.concurrency, 1);
  });

  test("--concurrency 2: two devices run, the third waits for a slot", async () => {
    const dir = tempDir("exec-cli-conc-");
    const go = join(dir, "go");
    const attached = cli.start([
      "exec",
      "--selector",
      "group=fleet",
      "--concurrency",
      "2",
      "--shell",
      "--",
      `touch ${dir}/started-$EXEC_TEST_NAME; while [ ! -e ${go} ]; do sleep 0.05; done; echo done`,
    ]);
    const cmd = await commandMentioning(server, dir);
    // Two have started (and block until `go`); the third cannot have a slot yet.
    const started = await waitFor(() => {
      const s = NAMES.filter((n) => existsSync(join(dir, `started-${n}`)));
      return s.length >= 2 ? s : undefined;
    }, "two devices running");
    const mid = await waitFor(async () => {
      const c = await server.api.call<any>("GET", `/api/v1/commands/${cmd.id}`);
      return c.summary.running === 2 ? c : undefined;
    }, "two runs running (the server has their acks)");
    assert.equal(mid.summary.pending, 1, JSON.stringify(mid.summary));
    const third = NAMES.find((n) => !started.includes(n))!;
    assert.equal(started.length, 2);
    assert.equal(mid.runs.find((x: any) => x.device === third).status, "pending");
    assert.equal(existsSync(join(dir, `started-${third}`)), false);
    writeFileSync(go, "");
    const r = await attached.result;
    expectExit(r, 0);
    const { blocks, summary } = parseFleet(r.stdout);
    assert.deepEqual(blocks.map((b) => b.name).sort(), NAMES);
    for (const b of blocks) assert.deepEqual(b.lines, ["done"]);
    assert.match(summary, /: 3 succeeded, 0 failed, 0 timed out, 0 offline \(of 3\)$/);
    // The third started only once a slot was free.
    const done = await server.api.call<any>("GET", `/api/v1/commands/${cmd.id}`);
    const late = done.runs.find((x: any) => x.device === third);
    const firstDone = Math.min(
      ...done.runs.filter((x: any) => x.device !== third).map((x: any) => Date.parse(x.finishedAt)),
    );
    assert.ok(Date.parse(late.startedAt) >= firstDone, JSON.stringify(done.runs));
  });

  test("tether commands list / show: newest first with summaries; --device filters", async () => {
    const ids: string[] = [];
    for (const [dev, word] of [
      ["fa1", "first"],
      ["fb1", "second"],
      ["fa1", "third"],
    ]) {
      const r = await cli.run(["exec", dev, "--detach", "--", "echo", word]);
      expectExit(r, 0);
      assert.match(r.stdout, /^cmd_[a-z0-9]{20}\n$/);
      ids.push(r.stdout.trim());
    }
    for (const id of ids)
      await waitFor(async () => (await runOf(server, id)).status === "succeeded", `${id} succeeded`);
    const [all, onFb1, onFa1, shown] = await Promise.all([
      cli.json<any[]>(["commands", "list"]),
      cli.json<any[]>(["commands", "list", "--device", "fb1"]),
      cli.json<any[]>(["commands", "list", "--device", "fa1"]),
      cli.run(["commands", "show", ids[1]]),
    ]);
    assert.deepEqual(
      all.slice(0, 3).map((c) => c.id),
      [ids[2], ids[1], ids[0]],
      "newest first",
    );
    for (let i = 1; i < all.length; i++)
      assert.ok(all[i - 1].createdAt >= all[i].createdAt, "ordered by creation time");
    assert.equal(all[0].summary.total, 1);
    assert.equal(all[0].summary.succeeded, 1);
    assert.equal(all[0].state, "done");
    assert.deepEqual(all[0].argv, ["echo", "third"]);
    assert.deepEqual(all[0].target, { devices: ["fa1"] });
    assert.ok(onFb1.some((c) => c.id === ids[1]));
    assert.ok(!onFb1.some((c) => c.id === ids[0] || c.id === ids[2]), "--device fb1: no fa1-only commands");
    assert.ok(onFa1.some((c) => c.id === ids[0]) && onFa1.some((c) => c.id === ids[2]));
    assert.ok(!onFa1.some((c) => c.id === ids[1]));
    assert.ok(onFb1.length < all.length);

    expectExit(shown, 0);
    assert.match(shown.stdout, /^command: +echo second$/m);
    assert.match(shown.stdout, new RegExp(`^id: +${ids[1]}$`, "m"));
    assert.match(shown.stdout, /^result: +1 succeeded \(of 1\)$/m);
    assert.match(shown.stdout, /^fb1 +succeeded +0 +\d+\.\d\ds +7 +0/m, "the device row");
    assert.match(shown.stdout, /^--- fb1 stdout ---\nsecond\n/m, "the output");

    const missing = await cli.run(["commands", "show", "cmd_aaaaaaaaaaaaaaaaaaaa"]);
    expectExit(missing, 4);
  });

  test("cancel: a detached command is killed (process group and all); an attached exec exits 130", async () => {
    const detachedPids = join(work, "cancel-detached.pids");
    const attachedPids = join(work, "cancel-attached.pids");
    const sigintPids = join(work, "cancel-sigint.pids");
    const bg = (f: string) => `echo started; sleep 300 & echo $! $$ > ${f}; wait`;
    const d = await cli.run(["exec", "fa1", "--detach", "--shell", "--", bg(detachedPids)]);
    expectExit(d, 0);
    const detachedId = d.stdout.trim();
    assert.match(detachedId, CMD_ID);
    const attached = cli.start(["exec", "fa2", "--shell", "--", bg(attachedPids)]);
    const interrupted = cli.start(["exec", "fb1", "--shell", "--", bg(sigintPids)]);
    const [pidsD, pidsA, pidsI] = await Promise.all([
      pidsIn(detachedPids),
      pidsIn(attachedPids),
      pidsIn(sigintPids),
    ]);
    // Output shown means the CLI is following the command (and handles Ctrl-C by cancelling).
    await waitFor(() => interrupted.stdoutSoFar() === "started\n", "the attached exec shows output");
    await waitFor(async () => (await runOf(server, detachedId)).status === "running", "detached run running");
    const attachedId = (await commandMentioning(server, attachedPids)).id;

    const [c1, c2] = await Promise.all([
      cli.run(["commands", "cancel", detachedId]),
      cli.run(["commands", "cancel", attachedId]),
    ]);
    expectExit(c1, 0);
    assert.match(c1.stdout, new RegExp(`^${detachedId}: cancel requested`));
    expectExit(c2, 0);
    cancelled.push(detachedId, attachedId);
    // Ctrl-C on an attached exec cancels the command too.
    interrupted.proc.kill("SIGINT");

    const [a, i] = await Promise.all([attached.result, interrupted.result]);
    expectExit(a, 130);
    assert.equal(a.stdout, "started\n");
    assert.match(a.stderr, /fa2: cancelled/);
    expectExit(i, 130);
    assert.match(i.stderr, /cancelling cmd_[a-z0-9]{20}/);
    cancelled.push((await commandMentioning(server, sigintPids)).id);
    await waitFor(
      async () => (await runOf(server, detachedId)).status === "cancelled",
      "detached run cancelled",
    );
    const shown = await cli.json(["commands", "show", detachedId]);
    assert.equal(shown.state, "cancelled");
    assert.equal(shown.runs[0].status, "cancelled");
    await waitGone(
      [...pidsD, ...pidsA, ...pidsI],
      "the cancelled shells and their background sleeps to be gone",
    );
  });

  test("the audit log has who ran what where, and the cancel", async () => {
    const r = await cli.run(["exec", "fb1", "--env", "SECRET=hush", "--", "echo", "audited"]);
    expectExit(r, 0);
    const id = (await commandMentioning(server, "audited")).id;
    const [all, byDevice] = await Promise.all([
      cli.json<any[]>(["audit", "--limit", "1000"]),
      cli.json<any[]>(["audit", "--device", "fb1", "--limit", "1000"]),
    ]);
    const run = byDevice.find((e) => e.action === "command.run" && e.detail.command === id);
    assert.ok(run, `command.run for ${id} in audit --device fb1`);
    assert.deepEqual(run.detail.argv, ["echo", "audited"]);
    assert.match(run.actor, /^(user:)?admin$/);
    assert.deepEqual(run.detail.env, ["SECRET"], "env names only, never values");
    assert.doesNotMatch(JSON.stringify(all), /hush/);
    assert.equal(cancelled.length, 3, "the cancel test ran");
    for (const c of cancelled) {
      const e = all.find((x) => x.action === "command.cancel" && x.detail.command === c);
      assert.ok(e, `command.cancel for ${c}`);
      assert.match(e.actor, /^(user:)?admin$/);
      assert.equal(e.detail.killed, 1, "it was running: killed, not dropped");
    }
  });
});
