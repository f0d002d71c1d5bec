// @matrix: once
// No process outlives its shell session (docs/protocol.md §17.4): the channel closing (user
// gone, tunnel dropped) ends the whole session — background children, an interactive shell's
// jobs in their own process groups, a process ignoring SIGHUP (SIGKILL after the grace) —
// and so does the session's own exit; live.json records what runs and a restarted agent ends
// what a crashed one left, never a process that merely reuses a recorded pid; the cap on
// sessions at once is a clear refusal.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { bootId, type LiveEntry } from "../src/capabilities/terminal/live-record.js";
import { sessionMembers } from "../src/capabilities/terminal/session-kill.js";
import { processStartTime } from "../src/proc-stat.js";
import { type FakeChannel, gone, harness, PTY, tempDir, waitFor } from "./fixtures/terminal/support.js";

/** The pids a session printed as `kid:PID`. */
function kids(ch: FakeChannel, n: number): number[] {
  const found = [...ch.text().matchAll(/kid:(\d+)/g)].map((m) => Number(m[1]));
  assert.equal(found.length, n, ch.text());
  return found;
}

function liveFile(dataDir: string): LiveEntry[] {
  try {
    return JSON.parse(readFileSync(join(dataDir, "tunnels", "live.json"), "utf8"));
  } catch {
    return [];
  }
}

test("channel close ends the whole session: background children of sh -c, PTY and pipes", async (t) => {
  const h = harness(t);
  for (const pty of [PTY, null]) {
    const ch = h.open({ pty, command: 'sleep 1000 & echo "kid:$!"; sleep 1000 & echo "kid:$!"; wait' });
    await waitFor(() => /kid:\d+[\s\S]*kid:\d+/.test(ch.text()), "two children");
    const leader = h.rt.sessions().at(-1)?.pid as number;
    const pids = [leader, ...kids(ch, 2)];
    assert.ok(pids.every((p) => !gone(p)));
    ch.serverClose();
    await waitFor(() => pids.every(gone), "every process of the session to be gone");
    assert.equal(ch.exitStatus, null, "no EXIT on a closed channel");
  }
});

test("an interactive shell's job in its own process group is ended too", async (t) => {
  const h = harness(t);
  const ch = h.open({ pty: PTY });
  await waitFor(() => ch.taken > 0, "the prompt");
  ch.type('sleep 1000 &\recho "kid:$!"\r');
  await waitFor(() => /kid:\d+/.test(ch.text()), "the job's pid");
  const [job] = kids(ch, 1);
  const leader = h.rt.sessions()[0]?.pid as number;
  assert.ok(leader && !gone(job));
  ch.serverClose();
  await waitFor(() => gone(job) && gone(leader), "the shell and its job to be gone");
});

test("the session's exit ends what it left running", async (t) => {
  const h = harness(t);
  const ch = h.open({ pty: PTY });
  await waitFor(() => ch.taken > 0, "the prompt");
  ch.type('sleep 1000 &\recho "kid:$!"; exit 0\r');
  await ch.done();
  const [job] = kids(ch, 1);
  assert.deepEqual(ch.exitStatus, { code: 0, signal: null });
  await waitFor(() => gone(job), "the job left behind to be ended");
});

test("a process that ignores SIGHUP is killed after the grace period", async (t) => {
  const h = harness(t, { killGraceMs: 300 });
  const ch = h.open({ pty: null, command: "trap '' HUP; echo kid:$$; while :; do sleep 1; done" });
  await waitFor(() => /kid:\d+/.test(ch.text()), "the pid");
  const [pid] = kids(ch, 1);
  ch.serverClose();
  await waitFor(() => gone(pid), "SIGKILL after the grace period");
});

test("live.json records running sessions and forgets ended ones", async (t) => {
  const h = harness(t);
  const ch = h.open({ pty: PTY, argv: ["sleep", "1000"] });
  await waitFor(() => ch.readyCalled, "ready");
  const pid = h.rt.sessions()[0]?.pid as number;
  const [e] = liveFile(h.dataDir);
  assert.equal(e.sid, pid);
  assert.equal(e.start, processStartTime(pid));
  assert.equal(e.boot, bootId());
  assert.match(e.session, /^ses_/);
  ch.serverClose();
  await waitFor(() => liveFile(h.dataDir).length === 0, "the entry to go");
});

test("at start, sessions a crashed agent left are ended; a reused pid or another boot is left alone", async (t) => {
  const dataDir = tempDir(t);
  // A "previous run's" session: a session leader with a background child.
  const orphan = spawn("sh", ["-c", "sleep 1000 & wait"], { detached: true, stdio: "ignore" });
  // Processes that merely have a recorded pid (start time differs) or come from "another boot".
  const reused = spawn("sleep", ["1000"], { detached: true, stdio: "ignore" });
  const otherBoot = spawn("sleep", ["1000"], { detached: true, stdio: "ignore" });
  t.after(() => {
    for (const c of [orphan, reused, otherBoot])
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  });
  const sid = orphan.pid as number;
  await waitFor(() => sessionMembers(sid)?.length === 2, "the orphan's child");
  const members = sessionMembers(sid) ?? [];
  const entries: LiveEntry[] = [
    { session: "ses_aaaaaaaaaaaaaaaaaaaa", sid, start: processStartTime(sid) as string, boot: bootId() },
    { session: "ses_bbbbbbbbbbbbbbbbbbbb", sid: reused.pid as number, start: "1", boot: bootId() },
    {
      session: "ses_cccccccccccccccccccc",
      sid: otherBoot.pid as number,
      start: processStartTime(otherBoot.pid as number) as string,
      boot: "another-boot",
    },
  ];
  mkdirSync(join(dataDir, "tunnels"), { recursive: true });
  writeFileSync(join(dataDir, "tunnels", "live.json"), JSON.stringify(entries));

  const h = harness(t, { dataDir, viaModule: true });
  await h.rt.start();
  assert.ok(members.every(gone), "the crashed run's session is gone");
  assert.equal(gone(reused.pid as number), false, "a reused pid is not killed");
  assert.equal(gone(otherBoot.pid as number), false, "a pid of another boot is not killed");
  assert.deepEqual(liveFile(dataDir), [], "every old entry is forgotten");
});

test("a corrupt live.json is ignored; nonsense pids are never signalled", async (t) => {
  const dataDir = tempDir(t);
  mkdirSync(join(dataDir, "tunnels"), { recursive: true });
  writeFileSync(join(dataDir, "tunnels", "live.json"), "{not json");
  await harness(t, { dataDir }).rt.start();
  writeFileSync(
    join(dataDir, "tunnels", "live.json"),
    JSON.stringify([
      { session: "x", sid: 1, start: "1", boot: null },
      { session: "y", sid: process.pid, start: processStartTime(process.pid), boot: null },
      { session: "z", sid: -5, start: "1", boot: null },
    ]),
  );
  await harness(t, { dataDir }).rt.start();
  assert.equal(gone(process.pid), false);
});

test("the cap on sessions at once is a clear refusal, and frees up as sessions end", async (t) => {
  const h = harness(t, { maxShells: 2 });
  const a = h.open({ pty: PTY, argv: ["sleep", "1000"] });
  const b = h.open({ pty: null, argv: ["sleep", "1000"] });
  await waitFor(() => a.readyCalled && b.readyCalled, "two sessions");
  const c = h.open({ pty: PTY, argv: ["true"] });
  await c.done();
  assert.deepEqual(c.failure, {
    code: "TETHER_ERR_TUNNEL_LIMIT",
    message: "this device already runs 2 shell sessions, the most it allows at once; close one and try again",
  });
  a.serverClose();
  await waitFor(() => h.rt.sessions().length === 1, "one session to end");
  const d = h.open({ pty: PTY, argv: ["true"] });
  await d.done();
  assert.deepEqual(d.exitStatus, { code: 0, signal: null });
});
