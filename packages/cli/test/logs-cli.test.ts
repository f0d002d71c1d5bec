// @matrix: once
/**
 * `tether logs` against a fake API over real HTTP (the server's routes are tested with the
 * server): the search mapped to its query (--grep → q, --level, --source, --since, paging with
 * `before` past 1000 lines), lines printed oldest first in the documented format, --selector
 * prefixes, --json; -f through a stream that drops, answers 503, and comes back: resumed with
 * Last-Event-ID, no line twice or missed, "connection lost; reconnecting…" said once, then
 * "reconnected", a lagged notice, Ctrl-C exits 0. Usage errors before any request. Also the
 * pure pieces: the line format (escaping, gap lines, colours) and the SSE parser.
 */
import assert from "node:assert/strict";
import http, { type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, test } from "node:test";
import { type LogLine, SseParser } from "@tether/sdk";
import { run } from "../src/cli.js";
import { formatLogLine, wantColour } from "../src/commands/logs.js";
import { type FakeApi, json, startFakeApi, testIo, waitFor } from "./logs-fake-api.js";

const T0 = new Date(2026, 11, 1, 14, 3, 22, 123).getTime();

function mk(n: number, o: Partial<LogLine> = {}): LogLine {
  return {
    id: `L${String(n).padStart(6, "0")}`,
    device: "robot-7",
    deviceId: "dev_7",
    time: T0 + n * 1000,
    deviceTime: T0 + n * 1000 - 5,
    receivedAt: T0 + n * 1000 + 20,
    source: "/var/log/app.log",
    level: "info",
    message: `line ${n}`,
    kind: "line",
    ...o,
  };
}

let api: FakeApi;
/** The fake store, oldest first. */
let stored: LogLine[] = [];

before(async () => {
  api = await startFakeApi();
});
after(async () => {
  await api?.close();
});
beforeEach(() => {
  api.requests.length = 0;
  stored = [];
  // The search: newest first, `limit` per page, `before` = the id to continue below.
  api.on("GET", "/api/v1/logs", (r, res) => {
    if (r.query.get("device") === "ghost")
      return json(res, 404, { error: { code: "TETHER_ERR_NOT_FOUND", message: "no device ghost" } });
    const limit = Number(r.query.get("limit") ?? 100);
    const b = r.query.get("before");
    const older = stored.filter((l) => !b || l.id < b).reverse();
    const lines = older.slice(0, limit);
    json(res, 200, { lines, next: older.length > limit ? lines[lines.length - 1].id : null });
  });
});

async function tether(args: string[], io = testIo(api.env)) {
  const code = await run(args, io);
  return { code, stdout: io.out(), stderr: io.err() };
}

const sse = (res: ServerResponse) => {
  res.writeHead(200, { "content-type": "text/event-stream" });
  res.write(": live\n\n");
};
const event = (l: LogLine) => `event: line\nid: ${l.id}\ndata: ${JSON.stringify(l)}\n\n`;

test("search: the newest lines, oldest first, in the documented format; filters mapped to the query", async () => {
  stored = [
    mk(1, { level: "warn", message: "disk full on /data" }),
    mk(2, { level: null, source: "journal", unit: "app.service", message: "tab\there \x1b[31mred" }),
    mk(3, {
      kind: "gap",
      level: null,
      message: "gap",
      gap: { count: 1204, from: T0 + 1000, to: T0 + 2000, reason: "rate limit" },
    }),
  ];
  const r = await tether([
    "logs",
    "robot-7",
    "--grep",
    "disk full",
    "--source",
    "/var/log/app.log",
    "--level",
    "WARNING",
    "--since",
    "10m",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      "2026-12-01 14:03:23.123 WARN  [/var/log/app.log] disk full on /data",
      "2026-12-01 14:03:24.123       [journal:app.service] tab\there \\x1b[31mred",
      "2026-12-01 14:03:25.123 -- 1,204 lines dropped from /var/log/app.log between 14:03:23 and 14:03:24 (rate limit) --",
      "",
    ].join("\n"),
  );
  assert.equal(api.requests.length, 1);
  const q = api.requests[0].query;
  assert.deepEqual(Object.fromEntries(q), {
    device: "robot-7",
    q: "disk full",
    source: "/var/log/app.log",
    level: "warn",
    since: "10m",
    limit: "100",
  });
  assert.equal(api.requests[0].headers.authorization, "Bearer tok_test");
});

test("search: -n beyond a page is fetched page by page with `before`; more matching is said on stderr", async () => {
  stored = Array.from({ length: 2600 }, (_, i) => mk(i + 1));
  const r = await tether(["logs", "robot-7", "-n", "2500"]);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout.trimEnd().split("\n");
  assert.equal(out.length, 2500);
  assert.match(out[0], / line 101$/);
  assert.match(out[2499], / line 2600$/);
  assert.deepEqual(
    api.requests.map((x) => [x.query.get("limit"), x.query.get("before")]),
    [
      ["1000", null],
      ["1000", "L001601"],
      ["500", "L000601"],
    ],
  );
  assert.match(r.stderr, /older lines match: raise --limit \(now 2500\)/);

  const j = await tether(["logs", "robot-7", "-n", "3", "--json"]);
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual(
    JSON.parse(j.stdout).map((l: LogLine) => l.id),
    ["L002598", "L002599", "L002600"],
    "a JSON array, oldest first",
  );
});

test("--selector: every line prefixed by its device's name; no lines is not an error", async () => {
  stored = [mk(1), mk(2, { device: "robot-8", deviceId: "dev_8" })];
  const r = await tether(["logs", "--selector", "site=lab"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^robot-7: 2026-12-01 14:03:23\.123 INFO {2}\[\/var\/log\/app\.log\] line 1\nrobot-8: .* line 2\n$/,
  );
  assert.equal(api.requests[0].query.get("selector"), "site=lab");
  assert.equal(api.requests[0].query.get("device"), null);
  stored = [];
  const e = await tether(["logs", "robot-7"]);
  assert.equal(e.code, 0);
  assert.equal(e.stdout, "");
  assert.match(e.stderr, /no log lines match in the last 24h/);
});

test("usage errors are said before any request (exit 2); an unknown device is exit 4", async () => {
  for (const [args, why] of [
    [["logs"], /name a DEVICE, or --selector/],
    [["logs", "robot-7", "--selector", "a=b"], /not both/],
    [["logs", "robot-7", "--level", "loud"], /--level must be one of debug, info, warn, error, fatal/],
    [["logs", "robot-7", "--since", "yesterday"], /--since must be a duration/],
    [["logs", "robot-7", "-f", "--until", "1h"], /--until cannot be used with -f/],
    [["logs", "robot-7", "-n", "0"], /--limit must be an integer >= 1/],
    [["logs", "--selector", "site="], /bad --selector/],
  ] as const) {
    const r = await tether([...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, why);
  }
  assert.equal(api.requests.length, 0);
  const g = await tether(["logs", "ghost"]);
  assert.equal(g.code, 4);
  assert.match(g.stderr, /^tether: no device ghost\n$/);
});

test("-f: recent lines, then live ones; the stream drops and answers 503, the tail resumes after the last line shown, each line once", async () => {
  stored = [mk(1), mk(2), mk(3)];
  const conns: (string | undefined)[] = [];
  const filters: Record<string, string>[] = [];
  api.on("GET", "/api/v1/logs/stream", (r, res) => {
    conns.push(r.headers["last-event-id"] as string | undefined);
    filters.push(Object.fromEntries(r.query));
    const n = conns.length;
    if (n === 1) {
      sse(res);
      // One event split across writes, then the server goes away mid-stream.
      const e4 = event(mk(4));
      res.write(e4.slice(0, 17));
      res.write(e4.slice(17) + event(mk(5)));
      setImmediate(() => res.destroy());
    } else if (n === 2) {
      json(res, 503, { error: { code: "TETHER_ERR_STORE_UNAVAILABLE", message: "starting" } });
    } else {
      sse(res);
      // A line the client already has (must not print twice), a new one, a lag notice.
      res.write(event(mk(5)) + event(mk(6, { level: "error", message: "boom" })));
      res.write(`event: lagged\ndata: ${JSON.stringify({ dropped: 2 })}\n\n`);
    }
  });
  const io = testIo(api.env);
  const done = run(["logs", "robot-7", "-f", "--grep", "boom", "--level", "info"], io);
  await waitFor(() => io.out().includes("boom") && io.err().includes("skipped"), "line 6 and the lag notice");
  io.stop();
  assert.equal(await done, 0, io.err());
  const shown = io
    .out()
    .trimEnd()
    .split("\n")
    .map((l) => l.split("] ")[1]);
  assert.deepEqual(shown, ["line 1", "line 2", "line 3", "line 4", "line 5", "boom"]);
  assert.match(io.out(), /ERROR \[\/var\/log\/app\.log\] boom\n$/);
  assert.deepEqual(conns, ["L000003", "L000005", "L000005"], "Last-Event-ID: the last line shown");
  assert.deepEqual(filters[0], { device: "robot-7", q: "boom", level: "info" }, "--grep is the live filter");
  assert.equal(api.requests[0].query.get("q"), "boom", "and the search's full text");
  const err = io.err();
  assert.equal(err.match(/connection lost; reconnecting…/g)?.length, 1, err);
  assert.equal(err.match(/tether: reconnected\n/g)?.length, 1, err);
  assert.ok(err.indexOf("connection lost") < err.indexOf("reconnected"));
  assert.match(err, /tether: 2 lines skipped/);
});

test("-f --json: NDJSON, one object per line; -n 0: only new lines (no search, no Last-Event-ID)", async () => {
  let lastEventId: string | undefined = "unset";
  api.on("GET", "/api/v1/logs/stream", (r, res) => {
    lastEventId = r.headers["last-event-id"] as string | undefined;
    sse(res);
    res.write(event(mk(7)) + event(mk(8, { device: "robot-8", message: "tab\tand \u0085 C1" })));
  });
  const io = testIo(api.env);
  const done = run(["logs", "--selector", "site=lab", "-f", "-n", "0", "--json"], io);
  await waitFor(() => io.out().split("\n").length >= 3, "two lines");
  io.stop();
  assert.equal(await done, 0, io.err());
  const lines = io.out().trimEnd().split("\n");
  assert.deepEqual(
    lines.map((l) => JSON.parse(l).id),
    ["L000007", "L000008"],
  );
  assert.equal(JSON.parse(lines[1]).message, "tab\tand \u0085 C1", "still the same string once parsed");
  assert.doesNotMatch(io.out(), /\u0085/, "but no raw C1 control on the terminal");
  assert.equal(lastEventId, undefined);
  assert.ok(!api.requests.some((r) => r.path === "/api/v1/logs"), "no search with -n 0");
});

test("-f: an HTTP error of the stream (a refused filter) ends the command; it is not retried", async () => {
  let n = 0;
  api.on("GET", "/api/v1/logs/stream", (_r, res) => {
    n++;
    json(res, 400, { error: { code: "TETHER_ERR_BAD_REQUEST", message: "bad source" } });
  });
  const r = await tether(["logs", "robot-7", "-f", "-n", "0"]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "tether: bad source\n");
  assert.equal(n, 1);
});

test("-f -n 0 against a server that never answered: exit 255 at once, not an endless wait", async () => {
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const io = testIo({ TETHER_URL: `http://127.0.0.1:${port}`, TETHER_TOKEN: "t" });
  assert.equal(await run(["logs", "robot-7", "-f", "-n", "0"], io), 255);
  assert.match(
    io.err(),
    /^tether: cannot reach the Tether server at http:\/\/127\.0\.0\.1:\d+: connection refused\n$/,
  );
});

test("-f: Ctrl-C while the stream is silent exits 0", async () => {
  api.on("GET", "/api/v1/logs/stream", (_r, res) => sse(res));
  const io = testIo(api.env);
  const done = run(["logs", "robot-7", "-f"], io);
  await waitFor(() => api.requests.some((r) => r.path === "/api/v1/logs/stream"), "the stream open");
  io.stop();
  assert.equal(await done, 0);
});

test("line format: levels padded, colours only when asked (the text escaped before colouring)", () => {
  const l = mk(1, { level: "error", message: "\x1b]52;c;AAAA\x07 boom", device: "r\x1b7" });
  assert.equal(
    formatLogLine(l, { prefix: true }),
    "r\\x1b7: 2026-12-01 14:03:23.123 ERROR [/var/log/app.log] \\x1b]52;c;AAAA\\x07 boom",
  );
  const c = formatLogLine(l, { color: true });
  assert.match(c, /\x1b\[31mERROR\x1b\[0m/);
  // The only ESC bytes are the colour codes.
  assert.equal(c.replace(/\x1b\[[0-9;]*m/g, "").includes("\x1b"), false);
  assert.equal(formatLogLine(mk(2, { level: "debug" })).slice(24, 30), "DEBUG ");
  assert.equal(wantColour({}, true), true);
  assert.equal(wantColour({ NO_COLOR: "1" }, true), false);
  assert.equal(wantColour({ FORCE_COLOR: "1" }, false), true);
  assert.equal(wantColour({}, false), false);
});

test("SSE parser: events in any chunking, CRLF, comments, multi-line data, ids", () => {
  const text =
    ': live\r\n\r\nevent: line\r\nid: 7\r\ndata: {"a":\r\ndata: 1}\r\n\r\n: keepalive\n\nretry: 10\nevent: lagged\ndata: {"dropped":3}\n\n';
  const want = [
    { event: "line", id: "7", data: '{"a":\n1}' },
    { event: "lagged", id: "7", data: '{"dropped":3}' },
  ];
  for (let cut = 0; cut <= text.length; cut++) {
    const p = new SseParser();
    const got = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))];
    assert.deepEqual(got, want, `cut at ${cut}`);
  }
  const p = new SseParser();
  assert.deepEqual(
    [...text].flatMap((ch) => p.push(ch)),
    want,
    "one character at a time",
  );
});
