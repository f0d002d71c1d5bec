// @matrix: once
/**
 * `tether shell` without a server (docs/protocol.md §17.3): the command line (DEVICE, -- CMD),
 * the exit status of the remote process (signals as 128+N) and exec's codes for its own
 * failures (125 refused, 126/127 could not start, 255 unreachable), read from the server's
 * code and the close code. The local side of a session over real muxes in memory: piped (stdin
 * to EOF, stdout and stderr apart) and on a terminal (raw mode set and always restored, resizes
 * passed on, Ctrl-C leaves with 130). A refused upgrade, run through the whole CLI.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { test } from "node:test";
import { ApiError, TUNNEL_CLOSE, TunnelError } from "@tether/sdk";
import { run } from "../src/cli.js";
import { attach, exitStatus, shellArgv } from "../src/commands/shell.js";
import { tunnelExitCode } from "../src/commands/tunnel-common.js";
import { fakeSession, refusingServer, termIo } from "./tunnel-fakes.js";

test("the command line: DEVICE, then the command after --", () => {
  assert.deepEqual(shellArgv(["robot-7"], ["shell", "robot-7"]), { device: "robot-7", argv: [] });
  assert.deepEqual(shellArgv(["robot-7", "ls", "-la"], ["shell", "robot-7", "--", "ls", "-la"]), {
    device: "robot-7",
    argv: ["ls", "-la"],
  });
  // A command word that looks like an option, or a DEVICE-like word, after --.
  assert.deepEqual(shellArgv(["d", "--user", "x"], ["shell", "d", "--", "--user", "x"]).argv, [
    "--user",
    "x",
  ]);
  assert.throws(
    () => shellArgv([], ["shell"]),
    (e: any) => e.exitCode === 2 && /name a DEVICE/.test(e.message),
  );
  assert.throws(
    () => shellArgv(["robot-7", "ls"], ["shell", "robot-7", "ls"]),
    (e: any) => e.exitCode === 2 && /tether shell robot-7 -- ls/.test(e.message),
  );
  assert.throws(
    () => shellArgv(["d"], ["shell", "d", "--"]),
    (e: any) => e.exitCode === 2 && /nothing after --/.test(e.message),
  );
});

test("usage errors exit 2 before any connection", async () => {
  const io = termIo({ TETHER_URL: "http://127.0.0.1:1", TETHER_TOKEN: "t" });
  assert.equal(await run(["shell"], io), 2);
  assert.equal(await run(["shell", "a", "b"], io), 2);
  assert.match(io.err(), /one DEVICE only/);
});

test("the remote status: the code, 128+N for a signal", () => {
  assert.equal(exitStatus({ code: 0, signal: null }), 0);
  assert.equal(exitStatus({ code: 5, signal: null }), 5);
  assert.equal(exitStatus({ code: 300, signal: null }), 44, "like a shell: the low 8 bits");
  assert.equal(exitStatus({ code: null, signal: "TERM" }), 143);
  assert.equal(exitStatus({ code: null, signal: "SIGKILL" }), 137);
  assert.equal(exitStatus({ code: null, signal: "NOPE" }), 255);
});

test("own failures use exec's codes: 125 refused, 126/127 cannot start, 255 unreachable", () => {
  const t = (code: string, close?: number, status = 0, message = "m") =>
    tunnelExitCode(new TunnelError(status, code as any, message, close));
  // Refused: the role, the run-as user, a limit, the allow-list, TUNNEL_CLOSE.refused.
  assert.equal(t("TETHER_ERR_FORBIDDEN", undefined, 403), 125);
  assert.equal(t("TETHER_ERR_EXEC_USER_NOT_ALLOWED", TUNNEL_CLOSE.refused), 125);
  assert.equal(t("TETHER_ERR_TUNNEL_LIMIT", TUNNEL_CLOSE.refused), 125);
  assert.equal(t("TETHER_ERR_FORWARD_NOT_ALLOWED"), 125);
  assert.equal(t("TETHER_ERR_SOMETHING_NEW", TUNNEL_CLOSE.refused), 125);
  assert.equal(t("TETHER_ERR_UNAUTHENTICATED", undefined, 401), 125);
  // Unreachable: no such device, offline, no dial-back, revoked, timed out, lost.
  assert.equal(t("TETHER_ERR_DEVICE_NOT_FOUND", TUNNEL_CLOSE.unreachable), 255);
  assert.equal(t("TETHER_ERR_DEVICE_NOT_FOUND", undefined, 404), 255);
  assert.equal(t("TETHER_ERR_DEVICE_OFFLINE", TUNNEL_CLOSE.unreachable), 255);
  assert.equal(t("TETHER_ERR_TUNNEL_TIMEOUT", TUNNEL_CLOSE.unreachable), 255);
  assert.equal(t("TETHER_ERR_TUNNEL_CLOSED", TUNNEL_CLOSE.revoked), 255);
  assert.equal(t("TETHER_ERR_TUNNEL_CLOSED", TUNNEL_CLOSE.timeout), 255);
  assert.equal(t("TETHER_ERR_UNREACHABLE", 1006), 255);
  assert.equal(tunnelExitCode(new ApiError(0, "TETHER_ERR_UNREACHABLE", "x")), 255);
  assert.equal(tunnelExitCode(new Error("what")), 255);
  // The device could not start it.
  assert.equal(t("TETHER_ERR_SPAWN_FAILED", TUNNEL_CLOSE.refused, 0, "htop: command not found"), 127);
  assert.equal(t("TETHER_ERR_SPAWN_FAILED", TUNNEL_CLOSE.refused, 0, "no such user: bob"), 126);
});

test("piped: stdin goes to the process until its end (EOF), stdout and stderr apart, the exit status", async () => {
  const io = termIo();
  const f = fakeSession();
  // The device: read stdin to its EOF, answer on both streams, exit with the status asked for.
  let input = "";
  f.remote.on("data", (b: Buffer) => {
    input += b.toString();
  });
  f.remote.on("end", () => {
    f.remote.write("bin\netc\n");
    f.remote.stderrOut.write("a warning\n", () => f.exit(Number(/exit (\d+)/.exec(input)?.[1])));
  });
  const result = attach(f.s as any, io.streams, { tty: false, raw: false, stop: io.stopSignal() });
  io.streams.stdin.end("ls\nexit 5\n");
  assert.deepEqual(await result, { status: 5 });
  assert.equal(input, "ls\nexit 5\n");
  assert.equal(io.out(), "bin\netc\n");
  assert.equal(io.err(), "a warning\n");
  assert.deepEqual(io.raw, [], "no raw mode without a terminal");
});

test("on a terminal: raw mode on, then off; a resize reaches the device; a signal's status is 128+N", async () => {
  const io = termIo({}, { tty: true, cols: 100, rows: 30 });
  const f = fakeSession();
  const resized = once(f.remote, "resize");
  const result = attach(f.s as any, io.streams, { tty: true, raw: true, stop: io.stopSignal() });
  assert.deepEqual(io.raw, [true]);
  io.streams.stdout.columns = 120;
  io.streams.stdout.rows = 40;
  io.streams.stdout.emit("resize");
  assert.deepEqual(await resized, [120, 40]);
  // Typing goes through as bytes (Ctrl-C is \x03 in raw mode: the device's to handle).
  const typed = once(f.remote, "data");
  io.streams.stdin.write("\x03");
  assert.equal(String((await typed)[0]), "\x03");
  f.remote.write("^C\r\n", () => f.exit(null, "TERM"));
  assert.deepEqual(await result, { status: 143 });
  assert.deepEqual(io.raw, [true, false]);
  assert.equal(io.out(), "^C\r\n");
  // stdin no longer feeds the channel.
  assert.equal(io.streams.stdin.listenerCount("data"), 0);
});

test("raw mode is restored when the session is cut off, and when Ctrl-C/SIGTERM leaves it", async () => {
  const io = termIo({}, { tty: true });
  const f = fakeSession();
  const result = attach(f.s as any, io.streams, { tty: true, raw: true, stop: io.stopSignal() });
  const err = new TunnelError(0, "TETHER_ERR_TUNNEL_CLOSED", "the device was revoked", TUNNEL_CLOSE.revoked);
  f.remote.write("last words\r\n", () => f.cut(err, TUNNEL_CLOSE.revoked));
  const r = await result;
  assert.equal(r.status, 255);
  assert.equal(r.error, err);
  assert.equal(io.out(), "last words\r\n", "the output before the cut is all there");
  assert.deepEqual(io.raw, [true, false]);

  const io2 = termIo({}, { tty: true });
  const g = fakeSession();
  const left = attach(g.s as any, io2.streams, { tty: true, raw: true, stop: io2.stopSignal() });
  io2.stop();
  assert.deepEqual(await left, { status: 130 });
  assert.ok(g.closed, "the session was closed (the device ends the process)");
  assert.deepEqual(io2.raw, [true, false]);
});

test("a refused shell (viewer: the upgrade answered 403) exits 125 with the reason and the code", async () => {
  const srv = await refusingServer(403, "TETHER_ERR_FORBIDDEN", "viewers cannot open shells");
  try {
    const io = termIo({ TETHER_URL: srv.url, TETHER_TOKEN: "tok_viewer", TETHER_PROJECT: "lab" });
    assert.equal(await run(["shell", "robot-7", "--", "true"], io), 125);
    const lines = io.err().trim().split("\n");
    assert.equal(lines.length, 2, io.err());
    assert.equal(lines[0], "tether: shell on robot-7: viewers cannot open shells");
    assert.equal(lines[1], "tether: (TETHER_ERR_FORBIDDEN, HTTP 403)");
    assert.equal(io.out(), "");
    assert.equal(srv.seen[0].url, "/api/v1/terminal");
    assert.equal(srv.seen[0].headers.authorization, "Bearer tok_viewer");
    assert.equal(srv.seen[0].headers["x-tether-project"], "lab");
    assert.equal(srv.seen[0].headers["x-tether-client"], "cli");
  } finally {
    await srv.close();
  }
  const gone = await refusingServer(404, "TETHER_ERR_DEVICE_NOT_FOUND", "no device named nope");
  try {
    const io = termIo({ TETHER_URL: gone.url, TETHER_TOKEN: "t" });
    assert.equal(await run(["shell", "nope"], io), 255);
    assert.match(io.err(), /^tether: shell on nope: no device named nope\n/);
  } finally {
    await gone.close();
  }
});

test("an unreachable server exits 255", async () => {
  const io = termIo({ TETHER_URL: "http://127.0.0.1:1", TETHER_TOKEN: "t" });
  assert.equal(await run(["shell", "robot-7", "--", "true"], io), 255);
  assert.match(io.err(), /cannot reach the Tether server at http:\/\/127\.0\.0\.1:1: connection refused/);
});
