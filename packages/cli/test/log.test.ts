// @matrix: once
/** The text log format of `tether server` / `tether agent` (src/log.ts). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CliError } from "../src/io.js";
import { createLogger, formatLine, formatRecord, logFormatOf, logLevelOf } from "../src/log.js";

const at = (h: number, m: number, s: number) => new Date(2026, 0, 2, h, m, s, 345).getTime();
const base = { level: 30, time: at(9, 12, 3), pid: 4242, hostname: "vm" };

test("a record: local time on a terminal, padded level, message, then its fields", () => {
  const line = formatRecord(
    { ...base, msg: "device online", deviceId: "dev_1", connId: 7, ok: true, n: null },
    { time: true, stacks: false },
  );
  assert.equal(line, "09:12:03 INFO  device online  deviceId=dev_1 connId=7 ok=true n=null\n");
});

test("without a terminal (journald) the time is left out; pid and hostname never show", () => {
  const line = formatRecord(
    { ...base, level: 40, msg: "lost the broker", url: "mqtts://b:8883" },
    {
      time: false,
      stacks: false,
    },
  );
  assert.equal(line, "WARN  lost the broker  url=mqtts://b:8883\n");
});

test("values with spaces or quotes are quoted; objects are compact JSON", () => {
  const line = formatRecord(
    { ...base, msg: "m", why: "two words", q: 'say "hi"', changed: ["a", "b"], o: { k: 1 }, e: "" },
    { time: false, stacks: false },
  );
  assert.equal(line, 'INFO  m  why="two words" q="say \\"hi\\"" changed=["a","b"] o={"k":1} e=""\n');
});

test("a field the message already says is not repeated", () => {
  const line = formatRecord(
    { ...base, msg: "enrolled as robot-7 (pending)", name: "robot-7", state: "pending", deviceId: "dev_9" },
    { time: false, stacks: false },
  );
  assert.equal(line, "INFO  enrolled as robot-7 (pending)  deviceId=dev_9\n");
});

test("an error shows its message (and class); its stack only at debug", () => {
  const err = {
    type: "TypeError",
    message: "x is not a function",
    stack: "TypeError: x\n    at f (a.js:1:2)",
  };
  const rec = { ...base, level: 50, msg: "request failed", err };
  assert.equal(
    formatRecord(rec, { time: false, stacks: false }),
    'ERROR request failed  err="TypeError: x is not a function"\n',
  );
  assert.equal(
    formatRecord(rec, { time: false, stacks: true }),
    'ERROR request failed  err="TypeError: x is not a function"\n    TypeError: x\n        at f (a.js:1:2)\n',
  );
  // A plain Error is its message; an `err` that is already a string is a plain field.
  assert.equal(
    formatRecord(
      { ...base, msg: "m", err: { type: "Error", message: "boom", stack: "s" } },
      {
        time: false,
        stacks: false,
      },
    ),
    "INFO  m  err=boom\n",
  );
  assert.equal(
    formatRecord(
      { ...base, msg: "poll failed", err: "connect ECONNREFUSED" },
      { time: false, stacks: false },
    ),
    'INFO  poll failed  err="connect ECONNREFUSED"\n',
  );
});

test("device-chosen text cannot reach the terminal as control sequences", () => {
  const line = formatRecord(
    { ...base, msg: "refused \x1b]52;c;aGk=\x07 name\nnext", name: "\x1b[2Jevil", hostname: "h" },
    { time: false, stacks: false },
  );
  assert.ok(!/[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(line), JSON.stringify(line));
  assert.equal(line.split("\n").length, 2, "one record, one line");
  assert.equal(line, "INFO  refused \\x1b]52;c;aGk=\\x07 name\\nnext  name=\\x1b[2Jevil\n");
});

test("formatLine parses pino's JSON line; anything else passes through escaped", () => {
  assert.equal(
    formatLine(`${JSON.stringify({ ...base, msg: "hi", part: "broker" })}\n`, { time: false, stacks: false }),
    "INFO  hi  part=broker\n",
  );
  assert.equal(formatLine("not json\x1b\n", { time: false, stacks: false }), "not json\\x1b\n");
});

test("createLogger: text by default, pino's own JSON with json, the level respected", async () => {
  const text: string[] = [];
  const t = await createLogger({ format: "text", level: "info", write: (s) => text.push(s), tty: false });
  t.debug("hidden");
  t.child({ part: "broker" }).warn({ deviceId: "dev_1" }, "refused");
  t.error({ err: new Error("disk full") }, "write failed");
  assert.deepEqual(text, [
    "WARN  refused  part=broker deviceId=dev_1\n",
    'ERROR write failed  err="disk full"\n',
  ]);

  const json: string[] = [];
  const j = await createLogger({ format: "json", level: "debug", write: (s) => json.push(s), tty: true });
  j.debug({ deviceId: "dev_1" }, "device online");
  assert.equal(json.length, 1);
  const rec = JSON.parse(json[0]);
  assert.equal(rec.level, 20);
  assert.equal(rec.msg, "device online");
  assert.equal(rec.deviceId, "dev_1");
  assert.equal(typeof rec.time, "number");
  assert.equal(rec.pid, process.pid);

  // At debug, text lines carry an error's stack.
  const dbg: string[] = [];
  const d = await createLogger({ format: "text", level: "debug", write: (s) => dbg.push(s), tty: true });
  d.error({ err: new Error("disk full") }, "write failed");
  assert.match(
    dbg[0],
    /^\d\d:\d\d:\d\d ERROR write failed {2}err="disk full"\n {4}Error: disk full\n {8}at /,
  );
});

test("--log-format / TETHER_LOG_FORMAT and --log-level / TETHER_LOG_LEVEL", () => {
  assert.equal(logFormatOf(undefined, {}), "text");
  assert.equal(logFormatOf(undefined, { TETHER_LOG_FORMAT: "json" }), "json");
  assert.equal(logFormatOf("text", { TETHER_LOG_FORMAT: "json" }), "text");
  assert.throws(
    () => logFormatOf("yaml", {}),
    (e: unknown) => e instanceof CliError && e.exitCode === 2,
  );
  assert.throws(() => logFormatOf(undefined, { TETHER_LOG_FORMAT: "pretty" }), /TETHER_LOG_FORMAT must be/);
  assert.equal(logLevelOf(undefined, {}), "info");
  assert.equal(logLevelOf(undefined, { TETHER_LOG_LEVEL: "debug" }), "debug");
  assert.equal(logLevelOf("WARN", { TETHER_LOG_LEVEL: "debug" }), "warn");
  assert.throws(() => logLevelOf("loud", {}), /--log-level must be one of/);
});
