/**
 * Untrusted log input (issue 12; docs/protocol.md §15), three parsers on the same bytes:
 * 1. The agent's line splitter and cleaner (agent capabilities/logs/line.ts: LineSplitter,
 *    cleanLine), fed in one push and in chunks split at input-derived places, at the wire
 *    limit and at the smallest setting (256). Contract: never throws; the chunked split gives
 *    the same lines; every message is at most the limit in UTF-8 bytes, well-formed (no lone
 *    surrogate), without control characters other than tab; a cut line ends with
 *    cutMark(cut) and has cut > 0, a whole one has no cut.
 * 2. The journal JSON parser (parseJournalLine, journal-source.ts), on each input line and on
 *    entries built around the input (MESSAGE as a string and as a byte array). Contract: never
 *    throws; returns a line whose message keeps the rules above, `{ bad }` (counted), or null
 *    (an object without MESSAGE).
 * 3. The server's full-text query (parseTerms + ftsMatch, server capabilities/logs/terms.ts)
 *    for the input as a user's `q`: `MATCH` with it never fails in a real SQLite FTS5 table
 *    (unicode61, as the log_fts migration). Any SQLite error is a crash.
 */
import { cutMark, LOG_LIMITS } from "@tether/protocol";
import Database from "better-sqlite3";
import { parseJournalLine } from "../../packages/agent/src/capabilities/logs/journal-source.js";
import { type CleanLine, cleanLine, LineSplitter } from "../../packages/agent/src/capabilities/logs/line.js";
import { ftsMatch, parseTerms } from "../../packages/server/src/capabilities/logs/terms.js";
import type { Target } from "../lib.js";
import { Broken } from "./metric-rules.js";

const NOW = 1_750_000_000_000;
/** The wire limit and the smallest maxLineBytes setting (agent logs settings: int(256, …)). */
const LIMITS = [LOG_LIMITS.maxLineBytes, 256];
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The wire rules for one line's text (LogLineWire.msg and cut). */
function assertLine(where: string, l: CleanLine, max: number): void {
  if (typeof l.msg !== "string") throw new Broken(`${where}: a message that is not a string`, l);
  if (Buffer.byteLength(l.msg) > max) throw new Broken(`${where}: a message over maxLineBytes`, l.msg.length);
  if (LONE_SURROGATE.test(l.msg)) throw new Broken(`${where}: a lone surrogate`, l.msg);
  if (CONTROL.test(l.msg)) throw new Broken(`${where}: a control character`, l.msg);
  if (l.cut !== undefined) {
    if (!Number.isInteger(l.cut) || l.cut <= 0) throw new Broken(`${where}: cut not > 0`, l.cut);
    if (!l.msg.endsWith(cutMark(l.cut))) throw new Broken(`${where}: a cut line without its mark`, l.msg);
  }
}

/** Split positions from the input itself (deterministic): a small xorshift seeded by its bytes. */
function chunks(input: Buffer): Buffer[] {
  let s = 0x9e3779b9 ^ input.length;
  for (let i = 0; i < Math.min(input.length, 64); i++) s = (Math.imul(s, 31) + input[i]!) | 0;
  const out: Buffer[] = [];
  let at = 0;
  while (at < input.length) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const n = (s >>> 0) % 7 === 0 ? 0 : 1 + ((s >>> 3) % 97);
    out.push(input.subarray(at, at + n)); // an empty chunk now and then
    at += n;
  }
  return out;
}

function split(parts: Buffer[], max: number): string[] {
  const lines: string[] = [];
  const s = new LineSplitter(max, (kept, total) => {
    const l = cleanLine(kept, total, max);
    assertLine("cleanLine", l, max);
    lines.push(JSON.stringify(l));
  });
  for (const p of parts) s.push(p);
  s.end();
  return lines;
}

function checkJournal(where: string, json: string): void {
  for (const max of LIMITS) {
    const r = parseJournalLine(json, NOW, max);
    if (r === null) continue;
    if ("bad" in r) {
      if (typeof r.bad !== "string" || r.bad === "")
        throw new Broken(`${where}: a bad entry without a reason`, r);
      continue;
    }
    assertLine(where, r.line, max);
    if (!Number.isFinite(r.line.t)) throw new Broken(`${where}: a time that is not finite`, r.line.t);
  }
}

let db: Database.Database | undefined;
let select: Database.Statement | undefined;

function checkQuery(q: string): void {
  const terms = parseTerms(q);
  if (terms.length === 0) return; // "no terms": the search matches nothing, never reaches MATCH
  const match = ftsMatch(terms);
  try {
    select!.all(match);
  } catch (err) {
    throw new Broken("FTS5 MATCH failed on a built query", { q, match, err: (err as Error).message });
  }
}

export const logLines: Target = {
  name: "log-lines",
  what: "log input: agent LineSplitter/cleanLine, parseJournalLine, server FTS5 query (parseTerms/ftsMatch)",
  seeds: () => [
    Buffer.from("plain line\nERROR: disk full\r\nwarn\ttabbed\n\nno newline at end"),
    Buffer.from([
      0x61, 0xff, 0xfe, 0x0a, 0xc3, 0x28, 0x0a, 0xe2, 0x82, 0x0a, 0xf0, 0x9f, 0x98, 0x0a, 0xed, 0xa0, 0x80,
    ]),
    Buffer.from(`${"é".repeat(9000)}\n${"x".repeat(20_000)}\r\nshort\n`),
    Buffer.from('"unterminated phrase\n"a""b" "*" * foo* NEAR(a b, 2) \'quoted\' back\\slash -minus a-b\n'),
    Buffer.from(
      "AND OR NOT\nfoo AND bar OR NOT baz\n^start col:umn (paren) {brace} + ~ \u0000nul\u001b[31m\n",
    ),
    Buffer.from(
      `${JSON.stringify({ MESSAGE: [104, 105, 255, 10, 27, 0], PRIORITY: "3", _SYSTEMD_UNIT: "nav.service", __REALTIME_TIMESTAMP: "1750000000000000", __CURSOR: "s=abc", _PID: "42" })}\n${JSON.stringify({ MESSAGE: ["first", "second"], PRIORITY: 9 })}\n{"MESSAGE":null}\n[1,2]\n{"MESSAGE":"multi\\nline\\n\\n"}\n`,
    ),
    ...['"', "*", "NEAR(", "'", "\\", "-", "AND OR NOT", "a\u0000b"].map((s) =>
      Buffer.from(`word ${s} x${s}y\n`),
    ),
  ],
  mutates: (b) => b.length <= 4096,
  dictionary: [
    "\n",
    "\r\n",
    '"',
    "*",
    "NEAR(",
    "'",
    "\\",
    "-",
    " AND ",
    " OR ",
    " NOT ",
    "^",
    ":",
    "\u0000",
    "\u0085",
    "\ufffd",
    "\xff",
    '{"MESSAGE":',
    '"MESSAGE":[',
    '"PRIORITY":"',
    '"_SYSTEMD_UNIT":"',
    '"__REALTIME_TIMESTAMP":"',
    "1e999",
    "\\ud800",
  ],
  async setup() {
    db = new Database(":memory:");
    db.exec("create virtual table t using fts5(message, tokenize='unicode61')");
    const ins = db.prepare("insert into t(message) values (?)");
    ins.run("disk full on /dev/sda1 near the end");
    ins.run('NEAR robot-7 "quoted" don\'t stop ünïcödé 123');
    select = db.prepare("select rowid from t where t match ?");
  },
  async teardown() {
    db?.close();
    db = select = undefined;
  },
  run(input) {
    // 1. Lines: one push and input-chosen chunks give the same, valid lines.
    const parts = chunks(input);
    for (const max of LIMITS) {
      const whole = split([input], max);
      const chunked = split(parts, max);
      if (whole.join("\n") !== chunked.join("\n")) {
        throw new Broken("chunked split differs from one push", {
          max,
          whole: whole.length,
          chunked: chunked.length,
        });
      }
    }
    // 2. Journal: each line as journalctl's output, and entries built around the input.
    const text = input.toString("utf8");
    for (const line of text.split("\n")) checkJournal("parseJournalLine", line);
    checkJournal(
      "parseJournalLine (built)",
      JSON.stringify({ MESSAGE: text, PRIORITY: text.slice(0, 3), _SYSTEMD_UNIT: text.slice(0, 300) }),
    );
    checkJournal(
      "parseJournalLine (byte array)",
      JSON.stringify({ MESSAGE: [...input], __REALTIME_TIMESTAMP: text }),
    );
    // 3. Search: the input as a user's q (UTF-8, and latin1 for C1 and odd letters).
    checkQuery(text);
    checkQuery(input.toString("latin1"));
  },
  expected: () => false,
};
