// @matrix: once
// Who runs a shell session and what (docs/protocol.md §17.4): the plan against a fake passwd
// (unknown user, an agent that is not root, the login shell with -l, argv, command, the
// clean environment, a missing home, programs not found or not executable), the runtime
// answering OPEN_FAIL for them, and — when the tests run as root — real sessions as another
// user (`nobody`; a user with a login shell if the host has one) with that user's groups only.
import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { lookupUser } from "../src/local-users.js";
import { planSpawn, resolveProgram } from "../src/capabilities/terminal/spawn-plan.js";
import { harness, PTY, tempDir, waitFor } from "./fixtures/terminal/support.js";

function passwd(t: Parameters<typeof tempDir>[0]): { file: string; dir: string } {
  const dir = tempDir(t);
  const file = join(dir, "passwd");
  writeFileSync(
    file,
    [
      "root:x:0:0:root:/root:/bin/bash",
      `alice:x:1000:1000::${dir}:/bin/sh`,
      "bob:x:1001:1001::/nonexistent:/bin/bash",
      "broken:x::1002::/tmp:/bin/sh",
      "",
    ].join("\n"),
  );
  return { file, dir };
}

test("plan: an unknown user is refused with a sentence", (t) => {
  const { file } = passwd(t);
  const r = planSpawn({ pty: null, user: "ghost" }, { passwd: file, uid: 0, userName: "root", env: {} });
  assert.deepEqual(r, {
    ok: false,
    code: "TETHER_ERR_SPAWN_FAILED",
    message: "no user ghost on this device",
  });
  const b = planSpawn({ pty: null, user: "broken" }, { passwd: file, uid: 0, userName: "root", env: {} });
  assert.equal(b.ok, false, "a passwd line without a uid is no user");
});

test("plan: an agent that is not root cannot switch user, but may name itself", (t) => {
  const { file, dir } = passwd(t);
  const host = { passwd: file, uid: 1000, userName: "alice", env: { PATH: "/usr/bin:/bin" } };
  const r = planSpawn({ pty: null, user: "bob" }, host);
  assert.deepEqual(r, {
    ok: false,
    code: "TETHER_ERR_SPAWN_FAILED",
    message: "the agent runs as alice, not as root, so it cannot start a shell as bob",
  });
  const self = planSpawn({ pty: null, user: "alice" }, host);
  assert.ok(self.ok);
  assert.equal(self.plan.switchTo, null);
  assert.equal(self.plan.cwd, dir);
});

test("plan: the login shell with -l, HOME/USER/LOGNAME/SHELL from passwd, TERM with a PTY", (t) => {
  const { file } = passwd(t);
  const r = planSpawn(
    { pty: { cols: 80, rows: 24, term: "xterm" }, user: "bob" },
    { passwd: file, uid: 0, userName: "root", env: { PATH: "/usr/bin:/bin", SECRET: "s", LC_TIME: "C" } },
  );
  assert.ok(r.ok);
  assert.equal(r.plan.file, "/bin/bash");
  assert.deepEqual(r.plan.args, ["-l"]);
  assert.equal(r.plan.what, "login shell");
  assert.deepEqual(r.plan.switchTo, {
    name: "bob",
    uid: 1001,
    gid: 1001,
    home: "/nonexistent",
    shell: "/bin/bash",
  });
  assert.equal(r.plan.cwd, "/", "a missing home falls back to /");
  assert.deepEqual(r.plan.env, {
    PATH: "/usr/bin:/bin",
    HOME: "/nonexistent",
    USER: "bob",
    LOGNAME: "bob",
    SHELL: "/bin/bash",
    LC_TIME: "C",
    LANG: "C.UTF-8",
    TERM: "xterm",
  });
});

test("plan: the device's locale is kept; LC_ALL alone means no LANG is added", (t) => {
  const { file } = passwd(t);
  const host = { passwd: file, uid: 0, userName: "root" };
  const a = planSpawn({ pty: null }, { ...host, env: { LANG: "de_DE.UTF-8" } });
  assert.ok(a.ok);
  assert.equal(a.plan.env.LANG, "de_DE.UTF-8");
  const b = planSpawn({ pty: null }, { ...host, env: { LC_ALL: "C" } });
  assert.ok(b.ok);
  assert.equal(b.plan.env.LANG, undefined);
  assert.equal(b.plan.env.PATH, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
});

test("plan: argv as given, a command through the user's shell, never both", (t) => {
  const { file } = passwd(t);
  const host = { passwd: file, uid: 0, userName: "root", env: { PATH: "/usr/bin:/bin" } };
  const a = planSpawn({ pty: null, argv: ["ls", "-l", "$HOME"] }, host);
  assert.ok(a.ok);
  assert.match(a.plan.file, /\/ls$/);
  assert.deepEqual(a.plan.args, ["-l", "$HOME"]);
  const c = planSpawn({ pty: null, user: "alice", command: "echo hi" }, host);
  assert.ok(c.ok);
  assert.equal(c.plan.file, "/bin/sh");
  assert.deepEqual(c.plan.args, ["-c", "echo hi"]);
  const both = planSpawn({ pty: null, argv: ["ls"], command: "ls" }, host);
  assert.equal(both.ok, false);
});

test("plan: a program not found, not executable, or a directory is refused before spawning", (t) => {
  const dir = tempDir(t);
  const script = join(dir, "script");
  writeFileSync(script, "#!/bin/sh\n");
  chmodSync(script, 0o644);
  assert.deepEqual(resolveProgram("no-such-program-xyz", "/usr/bin:/bin"), {
    ok: false,
    message: "no-such-program-xyz: command not found",
  });
  assert.deepEqual(resolveProgram(dir, "/usr/bin"), { ok: false, message: `${dir}: command not found` });
  assert.deepEqual(resolveProgram("", "/usr/bin"), { ok: false, message: "an empty program name" });
  if (process.getuid?.() !== 0)
    assert.deepEqual(resolveProgram(script, "/usr/bin"), {
      ok: false,
      message: `${script}: permission denied`,
    });
  chmodSync(script, 0o755);
  assert.deepEqual(resolveProgram("script", `/nonexistent:${dir}`), { ok: true, path: script });
});

test("runtime: an unknown user and a missing program are OPEN_FAIL with TETHER_ERR_SPAWN_FAILED", async (t) => {
  const h = harness(t);
  const cases = [
    { spec: { pty: PTY, user: "no-such-user-xyz" }, message: "no user no-such-user-xyz on this device" },
    { spec: { pty: PTY, argv: ["/nonexistent/prog"] }, message: "/nonexistent/prog: command not found" },
    { spec: { pty: null, argv: ["no-such-program-xyz"] }, message: "no-such-program-xyz: command not found" },
  ];
  for (const c of cases) {
    const ch = h.open(c.spec);
    await ch.done();
    assert.deepEqual(ch.failure, { code: "TETHER_ERR_SPAWN_FAILED", message: c.message });
    assert.equal(ch.readyCalled, false);
  }
  assert.equal(h.rt.sessions().length, 0);
});

const root = process.getuid?.() === 0;

test("as root: argv as nobody runs with nobody's uid, gid and groups only (PTY and pipes)", {
  skip: !root,
}, async (t) => {
  const nobody = lookupUser("nobody");
  if (!nobody) return t.skip("no user nobody");
  // Give the agent (this process) supplementary groups that must not leak into the session.
  const saved = process.getgroups?.() ?? [];
  process.setgroups?.([0, 4242]);
  t.after(() => process.setgroups?.(saved));
  const h = harness(t);
  for (const pty of [PTY, null]) {
    const ch = h.open({ pty, user: "nobody", argv: ["id"] });
    await ch.done();
    assert.deepEqual(ch.exitStatus, { code: 0, signal: null });
    const out = ch.text();
    assert.match(out, new RegExp(`uid=${nobody.uid}\\(nobody\\) gid=${nobody.gid}\\b`));
    // Never root's group 0 carried over from the agent.
    assert.doesNotMatch(out.replace(/^.*groups=/s, ""), /(^|,)(0|4242)\b/);
  }
  const un = h.open({ pty: PTY, user: "nobody", argv: ["id", "-un"] });
  await un.done();
  assert.match(un.text(), /^nobody\r?$/m);
});

test("as root: the login shell of a real user starts in their home with their environment", {
  skip: !root,
}, async (t) => {
  const shells = ["/bin/bash", "/bin/sh", "/usr/bin/bash", "/bin/dash", "/usr/bin/zsh"];
  const candidates = ["cloudsdk", "ubuntu", "debian", "user", "tester"];
  const u = candidates.map((n) => lookupUser(n)).find((x) => x && x.uid !== 0 && shells.includes(x.shell));
  if (!u) return t.skip("no second user with a login shell here");
  const h = harness(t);
  const ch = h.open({ pty: PTY, user: u.name });
  await waitFor(() => ch.taken > 0 || ch.exitStatus !== null, "the prompt");
  ch.type('echo "W=$(id -un):$HOME:$USER:$LOGNAME:$SHELL:$(pwd)"; exit 7\r');
  await ch.done();
  assert.match(ch.text(), new RegExp(`W=${u.name}:${u.home}:${u.name}:${u.name}:${u.shell}:${u.home}`));
  assert.deepEqual(ch.exitStatus, { code: 7, signal: null });
});
