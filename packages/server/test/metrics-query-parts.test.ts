// @matrix: once
// The parts of the metrics API that need no database (docs/protocol.md §14.5): a range
// query's window and step (durations, ISO times, the default step, the points bound with the
// smallest step allowed named in the error), series label filters, the fleet summary's
// assembly (one store call for all devices), and the live hub's bounds (streams per user, a
// client that does not read).
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import type { IncomingMessage, ServerResponse } from "node:http";
import { test } from "node:test";
import { type KeyFigure, TetherError } from "@tether/protocol";
import { pino } from "pino";
import { LiveHub } from "../src/capabilities/metrics/live.js";
import type { DeviceSummary } from "../src/capabilities/metrics/store/types.js";
import { fleetSummary, SPARK_POINTS } from "../src/capabilities/metrics/summary.js";
import {
  defaultStep,
  MAX_POINTS,
  parseLabelFilter,
  parseTime,
  resolveRange,
} from "../src/query/time-range.js";

const NOW = Date.parse("2024-05-01T12:00:00Z");
const H = 3_600_000;
const isBad = (re: RegExp) => (e: unknown) =>
  e instanceof TetherError && e.code === "TETHER_ERR_BAD_REQUEST" && e.status === 400 && re.test(e.message);

test("since/until: durations back from now or ISO times; default the last hour", () => {
  assert.equal(parseTime("30m", NOW, "since"), NOW - 30 * 60_000);
  assert.equal(parseTime("2024-05-01T11:00:00Z", NOW, "since"), NOW - H);
  assert.throws(() => parseTime("yesterday", NOW, "since"), isBad(/since "yesterday" is neither a duration/));
  assert.throws(() => parseTime("12345", NOW, "since"), isBad(/neither/));
  const r = resolveRange({}, NOW);
  assert.equal(r.to, NOW);
  assert.equal(r.stepMs, 60_000);
  assert.ok(r.from <= NOW - H && r.from > NOW - H - r.stepMs, "from aligned down to the step");
  assert.equal(r.from % r.stepMs, 0);
  assert.throws(() => resolveRange({ since: "1h", until: "2h" }, NOW), isBad(/since must be before until/));
});

test("the default step is range/120 rounded up to 10 s, 1 min, 5 min or whole hours", () => {
  assert.equal(defaultStep(10 * 60_000), 10_000); // 5 s → 10 s
  assert.equal(defaultStep(H), 60_000); // 30 s → 1 min
  assert.equal(defaultStep(6 * H), 300_000); // 3 min → 5 min
  assert.equal(defaultStep(24 * H), 3_600_000); // 12 min → 1 h
  assert.equal(defaultStep(30 * 24 * H), 6 * H); // 6 h
  assert.equal(defaultStep(400 * 24 * H), 80 * H);
  // Never more than MAX_POINTS with the default step.
  for (const range of [1000, H, 24 * H, 400 * 24 * H]) {
    const r = resolveRange({ since: new Date(NOW - range).toISOString() }, NOW);
    assert.ok((r.to - r.from) / r.stepMs <= MAX_POINTS);
  }
});

test("a step too small for the range is refused, naming the smallest step allowed", () => {
  assert.throws(
    () => resolveRange({ since: "7d", step: "10s" }, NOW),
    isBad(/at most 11000 are allowed: the smallest step allowed is 55s/),
  );
  // The step it names works.
  const ok = resolveRange({ since: "7d", step: "55s" }, NOW);
  assert.ok(Math.ceil((ok.to - ok.from) / ok.stepMs) <= MAX_POINTS);
  assert.throws(() => resolveRange({ step: "fast" }, NOW), isBad(/step "fast" is not a duration/));
  assert.throws(() => resolveRange({ step: "500ms" }, NOW), isBad(/at least 1s/));
  const r = resolveRange({ since: "24h", step: "1m" }, NOW);
  assert.equal(r.stepMs, 60_000);
  assert.equal(Math.ceil((r.to - r.from) / r.stepMs), 1440);
});

test("series label filters: name=value pairs", () => {
  assert.equal(parseLabelFilter(undefined), undefined);
  assert.equal(parseLabelFilter(" "), undefined);
  assert.deepEqual(parseLabelFilter("mount=/,device = sda"), { mount: "/", device: "sda" });
  assert.deepEqual(parseLabelFilter("path=a=b"), { path: "a=b" });
  assert.throws(() => parseLabelFilter("=x"), isBad(/name=value/));
  assert.throws(() => parseLabelFilter("bad-name=x"), isBad(/name=value/));
  assert.throws(() => parseLabelFilter("novalue"), isBad(/name=value/));
});

test("the fleet summary: the store's figures and cpu sparkline, the upload's skew, devices by name", async () => {
  const spark = Array.from({ length: SPARK_POINTS }, (_, i) => (i % 2 ? i : null));
  const asked: { ids: string[]; o: unknown }[] = [];
  const store = {
    async summary(ids: string[], o?: { now?: number; sparks?: KeyFigure[] }): Promise<DeviceSummary[]> {
      asked.push({ ids, o });
      return [
        {
          deviceId: "a",
          at: NOW - 5000,
          figures: { cpu: 12, memory: null, disk: 55, temperature: 71, battery: 15 },
          spark: { cpu: spark },
        },
        {
          deviceId: "b",
          at: null,
          figures: { cpu: null, memory: null, disk: null, temperature: null, battery: null },
          spark: {},
        },
      ];
    },
  };
  const rows = await fleetSummary(
    {
      store,
      uploadState: async () =>
        new Map([
          ["a", { lastUploadAt: NOW - 1000, skewMs: -250 }],
          ["b", { lastUploadAt: NOW - 9000, skewMs: 5 }],
        ]),
    },
    [
      { id: "a", name: "robot-a" },
      { id: "b", name: "robot-b" },
      { id: "c", name: "robot-c" },
    ],
    NOW,
  );
  assert.deepEqual(
    asked,
    [{ ids: ["a", "b", "c"], o: { now: NOW, sparks: ["cpu"] } }],
    "one store call for all",
  );
  assert.deepEqual(
    rows.map((r) => [r.device, r.deviceId, r.at, r.skewMs, r.figures]),
    [
      ["robot-a", "a", NOW - 5000, -250, { cpu: 12, memory: null, disk: 55, temperature: 71, battery: 15 }],
      ["robot-b", "b", null, 5, { cpu: null, memory: null, disk: null, temperature: null, battery: null }],
      ["robot-c", "c", null, null, { cpu: null, memory: null, disk: null, temperature: null, battery: null }],
    ],
  );
  assert.deepEqual(rows[0]!.spark, spark);
  assert.deepEqual(rows[1]!.spark, new Array(SPARK_POINTS).fill(null));
  assert.deepEqual(await fleetSummary({ store, uploadState: async () => new Map() }, [], NOW), []);
});

test("live streams: at most maxPerUser per user; samples reach only the streams watching the device", () => {
  const hub = new LiveHub(
    { maxPerUser: 2, heartbeatMs: 60_000, maxBufferedBytes: 1 << 20 },
    pino({ level: "silent" }),
  );
  const open = (userId: number, devices: string[]) => {
    const req = new PassThrough() as unknown as IncomingMessage;
    const chunks: string[] = [];
    const res = {
      writableLength: 0,
      writeHead() {},
      write(c: string) {
        chunks.push(c);
        return true;
      },
      end() {},
      destroy() {},
      on() {},
    } as unknown as ServerResponse;
    hub.open(
      { userId, projectId: 1, username: `u${userId}` },
      new Map(devices.map((d) => [d, `name-${d}`])),
      req,
      res,
      () => {},
    );
    return chunks;
  };
  const s1 = open(1, ["a"]);
  const s2 = open(1, ["b"]);
  assert.throws(
    () => open(1, ["a"]),
    (e: unknown) => e instanceof TetherError && e.code === "TETHER_ERR_TOO_MANY_STREAMS" && e.status === 429,
  );
  const other = open(2, ["a", "b"]);
  hub.stored({ deviceId: "a", series: [{ name: "m", labels: {}, points: [[1, 2]] }] });
  assert.equal(s1.length, 2);
  assert.match(s1[1]!, /^event: samples\ndata: \{"device":"name-a","deviceId":"a",/);
  assert.equal(s2.length, 1, "only the ': live' comment");
  assert.equal(other.length, 2);
  assert.equal(hub.closeStreamsOf(1), 2);
  assert.equal(hub.size, 1);
  open(1, ["a"]); // room again
  hub.closeAll();
  assert.equal(hub.size, 0);
});

test("a live client that does not read is dropped once its socket holds maxBufferedBytes", () => {
  const hub = new LiveHub(
    { maxPerUser: 4, heartbeatMs: 60_000, maxBufferedBytes: 1000 },
    pino({ level: "silent" }),
  );
  let buffered = 0;
  let destroyed = false;
  let ended = false;
  const res = {
    get writableLength() {
      return buffered;
    },
    writeHead() {},
    write(c: string) {
      buffered += c.length; // nothing is read: it all stays buffered
      return false;
    },
    end() {
      ended = true;
    },
    destroy() {
      destroyed = true;
    },
    on() {},
  } as unknown as ServerResponse;
  hub.open(
    { userId: 1, projectId: 1, username: "slow" },
    new Map([["a", "a"]]),
    new PassThrough() as never,
    res,
    () => {},
  );
  const batch = {
    deviceId: "a",
    series: [{ name: "m", labels: {}, points: [[1, 2]] as [number, number][] }],
  };
  for (let i = 0; i < 100 && !destroyed; i++) hub.stored(batch);
  assert.ok(destroyed && ended, "dropped");
  assert.ok(buffered < 1000 + 200, `bounded: ${buffered} bytes queued`);
  assert.equal(hub.slowDropped, 1);
  assert.equal(hub.size, 0, "forgotten: its user may open another");
});
