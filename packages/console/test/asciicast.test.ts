// @matrix: once
/**
 * Recordings in the console (src/features/terminal/asciicast.ts, cast-player.ts, session-text.ts):
 * asciicast v2 parsing with idle gaps skipped and hostile lines skipped, the player's seek
 * (the terminal as it was at that time, resizes honoured), and the sentences for how sessions end.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventsUntil, fmtPlayTime, IDLE_BEAT_S, parseCast } from "../src/features/terminal/asciicast.ts";
import { CastPlayer } from "../src/features/terminal/cast-player.ts";
import { endText, sessionEnded, sessionWhat } from "../src/features/terminal/session-text.ts";

const CAST = [
  JSON.stringify({ version: 2, width: 100, height: 30, timestamp: 1700000000 }),
  JSON.stringify([0.5, "o", "$ "]),
  JSON.stringify([1.0, "o", "echo hi\r\n"]),
  JSON.stringify([1.1, "i", "secret"]),
  JSON.stringify([31.1, "o", "hi\r\n"]),
  JSON.stringify([31.2, "r", "120x40"]),
  JSON.stringify([32.0, "o", "$ "]),
].join("\n");

test("parses header and events; a gap over 2 s is skipped down to a short beat", () => {
  const c = parseCast(CAST);
  assert.equal(c.width, 100);
  assert.equal(c.height, 30);
  assert.equal(c.idleGaps, 1);
  assert.equal(c.recordedDuration, 32);
  assert.ok(Math.abs(c.duration - (32 - 30 + IDLE_BEAT_S)) < 1e-9, String(c.duration));
  assert.deepEqual(
    c.events.map((e) => e.kind),
    ["o", "o", "o", "r", "o"],
    "input events are not played",
  );
  assert.deepEqual([c.events[3].cols, c.events[3].rows], [120, 40]);
  const raw = parseCast(CAST, { skipIdle: false });
  assert.equal(raw.duration, 32);
});

test("bad input: not asciicast v2 throws a sentence; bad lines and sizes are skipped or clamped", () => {
  assert.throws(() => parseCast("hello"), /not in asciicast format/);
  assert.throws(() => parseCast(JSON.stringify({ version: 1 })), /not asciicast version 2/);
  const c = parseCast(
    [
      JSON.stringify({ version: 2, width: 100000, height: -1 }),
      "{not json",
      JSON.stringify([1, "o", 5]),
      JSON.stringify(["x", "o", "a"]),
      JSON.stringify([2, "r", "99999999x1"]),
      JSON.stringify([2, "o", "first"]),
      JSON.stringify([1.5, "o", "back in time"]),
      JSON.stringify([3, "o", "ok"]),
    ].join("\n"),
  );
  assert.equal(c.width, 80);
  assert.equal(c.height, 24);
  assert.equal(c.skipped, 4);
  // A line dated before the previous one plays at the previous one's time.
  assert.deepEqual(
    c.events.map((e) => [e.t, e.data]),
    [
      [2, "first"],
      [2, "back in time"],
      [3, "ok"],
    ],
  );
});

test("eventsUntil and fmtPlayTime", () => {
  const c = parseCast(CAST);
  assert.equal(eventsUntil(c.events, 0), 0);
  assert.equal(eventsUntil(c.events, 1), 2);
  assert.equal(eventsUntil(c.events, 1000), c.events.length);
  assert.equal(fmtPlayTime(7.9), "0:07");
  assert.equal(fmtPlayTime(723), "12:03");
  assert.equal(fmtPlayTime(3723), "1:02:03");
});

test("the player's seek shows the terminal as it was then; seeking back starts from a reset", () => {
  const c = parseCast(CAST);
  const log: string[] = [];
  const sink = {
    reset: () => log.push("reset"),
    resize: (cols: number, rows: number) => log.push(`resize ${cols}x${rows}`),
    write: (d: string) => log.push(`write ${JSON.stringify(d)}`),
  };
  const p = new CastPlayer(
    c,
    sink,
    () => {},
    () => 0,
  );
  assert.deepEqual(log, ["reset", "resize 100x30"]);
  log.length = 0;
  p.seek(c.duration);
  assert.deepEqual(log, [
    `write ${JSON.stringify("$ echo hi\r\nhi\r\n")}`,
    "resize 120x40",
    `write ${JSON.stringify("$ ")}`,
  ]);
  assert.ok(p.atEnd);
  log.length = 0;
  p.seek(0.7);
  assert.deepEqual(log, ["reset", "resize 100x30", `write ${JSON.stringify("$ ")}`]);
  p.dispose();
});

test("sentences: how a link ended, what a session ran, how it ended", () => {
  assert.deepEqual(endText({ kind: "exit", code: 3, signal: null }, "robot-7"), {
    message: "The shell exited with status 3.",
    detail: "exit status 3",
    action: "Start a new session",
  });
  assert.equal(
    endText({ kind: "closed", closeCode: 1006, reason: "", beforeReady: false }, "robot-7").message,
    "The connection to robot-7 was lost.",
  );
  const idle = endText(
    { kind: "error", code: "TETHER_ERR_TUNNEL_CLOSED", message: "idle for 30 minutes", beforeReady: false },
    "robot-7",
  );
  assert.equal(idle.message, "The session ended: idle for 30 minutes.");
  assert.equal(idle.detail, "TETHER_ERR_TUNNEL_CLOSED");
  assert.equal(idle.action, "Reconnect");
  const offline = endText(
    { kind: "error", code: "TETHER_ERR_DEVICE_OFFLINE", message: "x", beforeReady: true },
    "robot-7",
  );
  assert.match(offline.message, /^robot-7 is offline/);
  assert.equal(offline.action, "Retry");
  assert.equal(
    sessionWhat({ kind: "forward", target: "localhost:8080", runAs: null }),
    "forward to localhost:8080",
  );
  assert.equal(
    sessionWhat({ kind: "shell", target: "login shell", runAs: "deploy" }),
    "login shell as deploy",
  );
  assert.equal(sessionEnded({ live: false, endReason: "exited", exitCode: 3 }), "Exited with status 3");
  assert.equal(
    sessionEnded({ live: false, endReason: "idle", exitCode: null }),
    "Ended after being idle too long",
  );
  assert.equal(sessionEnded({ live: true, endReason: null, exitCode: null }), "Still running");
  assert.equal(sessionEnded({ live: false, endReason: "something new", exitCode: null }), "Something new");
});
