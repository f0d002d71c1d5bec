// @matrix: once
// Log line handling on the agent (docs/protocol.md §15): bytes split on \n (CRLF too), invalid
// UTF-8 replaced, control characters escaped, a line over the limit cut with the mark and
// `cut`, a 10 MB line streamed (never held whole); journal JSON (MESSAGE as a byte array,
// priority, unit, time) and the agent's own pino records as lines; level detection.
import assert from "node:assert/strict";
import { test } from "node:test";
import { cutMark, LOG_LIMITS, levelFromText } from "@tether/protocol";
import { agentLine } from "../src/capabilities/logs/agent-log.js";
import { globMatch } from "../src/capabilities/logs/glob.js";
import { parseJournalLine } from "../src/capabilities/logs/journal-source.js";
import { cleanLine, cleanText, escapeControl, LineSplitter } from "../src/capabilities/logs/line.js";
import { TokenBucket } from "../src/capabilities/logs/rate-limit.js";

function split(chunks: (string | Buffer)[], max: number = LOG_LIMITS.maxLineBytes) {
  const out: { msg: string; cut?: number }[] = [];
  const s = new LineSplitter(max, (kept, total) => out.push(cleanLine(kept, total, max)));
  for (const c of chunks) s.push(typeof c === "string" ? Buffer.from(c) : c);
  return { out, s };
}

test("bytes split on \\n across chunks; CRLF loses its \\r; a partial line waits; consumed is the resume offset", () => {
  const { out, s } = split(["one\r\ntw", "o\nthr", "ee"]);
  assert.deepEqual(
    out.map((l) => l.msg),
    ["one", "two"],
  );
  assert.equal(s.consumed, "one\r\ntwo\n".length);
  assert.equal(s.pendingBytes, 5);
  s.end();
  assert.equal(out[2]!.msg, "three");
  assert.equal(s.consumed, "one\r\ntwo\nthree".length);
});

test("invalid UTF-8 is replaced, control characters other than tab are escaped, binary stays readable", () => {
  const bin = Buffer.from([
    0x6f, 0x6b, 0xff, 0xfe, 0x00, 0x01, 0x09, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 0x0d, 0x78, 0x0a,
  ]);
  const { out } = split([bin, Buffer.from("caf\u00e9 \u2603\n")]);
  assert.equal(out[0]!.msg, "ok\uFFFD\uFFFD\\x00\\x01\t\\x1b[31m\\rx");
  assert.equal(out[1]!.msg, "café ☃");
  assert.equal(escapeControl("a\u0085b\u007f"), "a\\x85b\\x7f");
  // Everything on the wire is valid UTF-8 with no raw control characters but tab.
  for (const l of out) {
    assert.equal(Buffer.from(l.msg, "utf8").toString("utf8"), l.msg);
    assert.doesNotMatch(l.msg, /[\u0000-\u0008\u000a-\u001f\u007f]/);
  }
});

test("a line over the limit is cut with the mark and the number of bytes removed, at most the limit", () => {
  const max = 1000;
  const line = `${"é".repeat(800)}tail`; // 1604 bytes
  const { out } = split([`${line}\n`], max);
  const l = out[0]!;
  assert.ok(Buffer.byteLength(l.msg) <= max, `${Buffer.byteLength(l.msg)} bytes`);
  assert.ok(l.cut! > 600);
  assert.ok(l.msg.endsWith(cutMark(l.cut!)), l.msg.slice(-60));
  const head = l.msg.slice(0, -cutMark(l.cut!).length);
  assert.equal(Buffer.byteLength(head) + l.cut!, Buffer.byteLength(line));
  assert.ok(!head.includes("\uFFFD"), "not cut inside a character");
  // cleanText (journal, agent) cuts the same way.
  const t = cleanText("x".repeat(5000), max);
  assert.ok(Buffer.byteLength(t.msg) <= max);
  assert.equal(t.cut, 5000 - (Buffer.byteLength(t.msg) - Buffer.byteLength(cutMark(t.cut!))));
});

test("a 10 MB line is streamed: only the limit's worth is held; the emitted line is at most the limit", () => {
  const seen: { keptLen: number; total: number; msg: string; cut?: number }[] = [];
  const s = new LineSplitter(LOG_LIMITS.maxLineBytes, (kept, total) =>
    seen.push({ keptLen: kept.length, total, ...cleanLine(kept, total) }),
  );
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const chunks = (10 * 1024 * 1024) / chunk.length;
  for (let i = 0; i < chunks; i++) {
    s.push(chunk);
    // The line in progress is counted, but what is kept never grows past the limit (+1 byte for a \r).
    assert.ok((s as unknown as { kept: number }).kept <= LOG_LIMITS.maxLineBytes + 1);
  }
  s.push(Buffer.from("\nnext\n"));
  assert.equal(seen.length, 2);
  const big = seen[0]!;
  assert.equal(big.total, 10 * 1024 * 1024);
  assert.ok(big.keptLen <= LOG_LIMITS.maxLineBytes);
  assert.ok(Buffer.byteLength(big.msg) <= LOG_LIMITS.maxLineBytes);
  assert.equal(
    big.cut,
    10 * 1024 * 1024 - (Buffer.byteLength(big.msg) - Buffer.byteLength(cutMark(big.cut!))),
  );
  assert.match(big.msg, / …\[cut 10,4\d\d,\d\d\d bytes\]$/);
  assert.equal(seen[1]!.msg, "next");
});

test("journal JSON: unit, priority and level, the journal's time, MESSAGE as bytes, cursor and pid", () => {
  const now = 1_760_000_000_000;
  const e = parseJournalLine(
    JSON.stringify({
      __CURSOR: "s=abc;i=1",
      __REALTIME_TIMESTAMP: "1759999999123456",
      PRIORITY: "3",
      _SYSTEMD_UNIT: "nav.service",
      _PID: "4242",
      MESSAGE: "planner failed: no path",
    }),
    now,
  );
  assert.ok(e && !("bad" in e));
  assert.deepEqual(e.line, {
    t: 1759999999123,
    src: "journal",
    msg: "planner failed: no path",
    pri: 3,
    lvl: "error",
    unit: "nav.service",
  });
  assert.equal(e.cursor, "s=abc;i=1");
  assert.equal(e.pid, 4242);

  // Non-UTF-8 MESSAGE comes as an array of bytes; a trailing newline is dropped, inner ones escaped.
  const bytes = [...Buffer.from("motor \xff stalled\nline 2\n", "latin1")];
  const b = parseJournalLine(JSON.stringify({ MESSAGE: bytes, PRIORITY: "4" }), now);
  assert.ok(b && !("bad" in b));
  assert.equal(b.line.msg, "motor \uFFFD stalled\\nline 2");
  assert.equal(b.line.lvl, "warn");
  assert.equal(b.line.t, now, "no journal time: the read time");
  assert.equal(b.line.unit, undefined);

  // Priorities map to levels; a field given twice takes its first value.
  const lv = (p: string) => {
    const r = parseJournalLine(JSON.stringify({ MESSAGE: ["x", "y"], PRIORITY: p }), now);
    assert.ok(r && !("bad" in r));
    assert.equal(r.line.msg, "x");
    return r.line.lvl;
  };
  assert.deepEqual(["0", "2", "3", "4", "5", "6", "7"].map(lv), [
    "fatal",
    "fatal",
    "error",
    "warn",
    "info",
    "info",
    "debug",
  ]);

  assert.deepEqual(parseJournalLine("{not json", now), { bad: "not JSON" });
  assert.equal(parseJournalLine(JSON.stringify({ PRIORITY: "6" }), now), null);
});

test("the agent's own pino records: level, time, message and fields", () => {
  const l = agentLine(
    JSON.stringify({
      level: 40,
      time: 1_760_000_000_123,
      pid: 1,
      hostname: "h",
      part: "telemetry",
      msg: "upload failed",
    }),
    0,
  );
  assert.deepEqual(l, {
    t: 1_760_000_000_123,
    src: "agent",
    msg: 'upload failed {"part":"telemetry"}',
    lvl: "warn",
  });
  assert.equal(agentLine("garbage", 0), null);
});

test("levels of file lines: JSON level fields and upper-case words", () => {
  assert.equal(levelFromText('{"level":"warn","msg":"low battery"}'), "warn");
  assert.equal(levelFromText('{"level":50,"msg":"x"}'), "error");
  assert.equal(levelFromText("2025-01-01 12:00:00 ERROR motor stalled"), "error");
  assert.equal(levelFromText("[WARN] slow"), "warn");
  assert.equal(levelFromText("all good"), undefined);
});

test("globs: * and ? within one component; .. cannot step out", () => {
  assert.ok(globMatch("/var/log/app/*.log", "/var/log/app/a.log"));
  assert.ok(!globMatch("/var/log/app/*.log", "/var/log/app/sub/a.log"));
  assert.ok(globMatch("/var/log/*/x?.log", "/var/log/nav/x1.log"));
  assert.ok(!globMatch("/var/log/app/*", "/var/log/app/../../../etc/shadow"));
});

test("token bucket: burst, then the rate", () => {
  let now = 0;
  const b = new TokenBucket(10, 5, now);
  let n = 0;
  for (let i = 0; i < 100; i++) if (b.take(now)) n++;
  assert.equal(n, 5);
  now += 1000;
  n = 0;
  for (let i = 0; i < 100; i++) if (b.take(now)) n++;
  assert.equal(n, 5, "refilled up to the burst, not past it");
  now += 200;
  assert.ok(b.take(now) && b.take(now) && !b.take(now));
});
