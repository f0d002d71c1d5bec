/**
 * Shared by the metrics tests: a protobuf reader for remote-write requests written
 * independently of the encoder under test, and Debian's promtool and victoria-metrics (a
 * missing one fails in CI, and is skipped loudly elsewhere).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../../tests/support/net.js";
import type { PromSeries } from "../src/capabilities/metrics/remote-write-proto.js";
import { type ServerAt, uploadBatch } from "./support.js";

export const PROMTOOL = process.env.TETHER_TEST_PROMTOOL ?? "/usr/bin/promtool";
export const VICTORIA_METRICS = process.env.TETHER_TEST_VICTORIA_METRICS ?? "/usr/bin/victoria-metrics";

function skipUnless(path: string, what: string, pkg: string): string | undefined {
  if (existsSync(path)) return undefined;
  const msg = `${what} is not installed (${path})`;
  if (process.env.CI) throw new Error(`${msg}; CI must have it (apt-get install ${pkg})`);
  process.stderr.write(`skipping the ${what} checks: ${msg}\n`);
  return msg;
}

/** undefined when promtool can run here; a reason to skip otherwise (throws in CI). */
export const promtoolSkip = () => skipUnless(PROMTOOL, "promtool", "prometheus");
/** undefined when victoria-metrics can run here; a reason to skip otherwise (throws in CI). */
export const victoriaMetricsSkip = () => skipUnless(VICTORIA_METRICS, "VictoriaMetrics", "victoria-metrics");

/** `promtool check metrics` on `text`: its exit code (0 clean, 1 parse error, 3 lint findings) and output lines. */
export function promtool(text: string): Promise<{ code: number; out: string[] }> {
  return new Promise((resolve, reject) => {
    const p = spawn(PROMTOOL, ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    const add = (d: Buffer) => {
      out += d;
    };
    p.stdout.on("data", add);
    p.stderr.on("data", add);
    p.on("error", reject);
    p.on("close", (code) => resolve({ code: code ?? -1, out: out.split("\n").filter(Boolean) }));
    p.stdin.end(text);
  });
}

/** promtool is satisfied: parsed, and nothing to say. */
export async function assertPromtoolClean(text: string): Promise<void> {
  const r = await promtool(text);
  assert.deepEqual(
    r.out,
    [],
    `promtool findings:\n${r.out.join("\n")}\n--- text ---\n${text.slice(0, 4000)}`,
  );
  assert.equal(r.code, 0);
}

// ---- a minimal protobuf reader, independent of the encoder ----

function readVarint(b: Uint8Array, pos: { i: number }): bigint {
  let v = 0n;
  let shift = 0n;
  for (;;) {
    const byte = b[pos.i++]!;
    v |= BigInt(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return v;
    shift += 7n;
  }
}

/** Fields of one message: field number → raw values (bigint for varint, Uint8Array otherwise). */
function fields(b: Uint8Array): [number, bigint | Uint8Array][] {
  const out: [number, bigint | Uint8Array][] = [];
  const pos = { i: 0 };
  while (pos.i < b.length) {
    const key = Number(readVarint(b, pos));
    const field = key >> 3;
    const wire = key & 7;
    if (wire === 0) out.push([field, readVarint(b, pos)]);
    else if (wire === 1) {
      out.push([field, b.subarray(pos.i, pos.i + 8)]);
      pos.i += 8;
    } else if (wire === 2) {
      const len = Number(readVarint(b, pos));
      out.push([field, b.subarray(pos.i, pos.i + len)]);
      pos.i += len;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

export function decodeWriteRequest(b: Uint8Array): PromSeries[] {
  const text = new TextDecoder();
  return fields(b).map(([f, ts]) => {
    assert.equal(f, 1);
    const s: PromSeries = { labels: [], samples: [] };
    for (const [g, v] of fields(ts as Uint8Array)) {
      const sub = fields(v as Uint8Array);
      if (g === 1) {
        s.labels.push({
          name: text.decode(sub.find(([k]) => k === 1)![1] as Uint8Array),
          value: text.decode(sub.find(([k]) => k === 2)![1] as Uint8Array),
        });
      } else {
        const raw = sub.find(([k]) => k === 1)![1] as Uint8Array;
        const value = new DataView(raw.buffer, raw.byteOffset, 8).getFloat64(0, true);
        const t = BigInt.asIntN(64, sub.find(([k]) => k === 2)![1] as bigint);
        s.samples.push([Number(t), value]);
      }
    }
    return s;
  });
}

export interface VictoriaMetrics {
  /** http://127.0.0.1:PORT (remote write: /api/v1/write) */
  base: string;
  /** Poll /api/v1/export until at least `want` series match (data is searchable after a flush). */
  exported(match: string, since: number, want: number): Promise<Exported[]>;
  stop(): Promise<void>;
}

export interface Exported {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

/** A private VictoriaMetrics on a free loopback port, healthy when this resolves. */
export async function startVictoriaMetrics(): Promise<VictoriaMetrics> {
  const dir = mkdtempSync(join(tmpdir(), "tether-vm-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = spawn(
    VICTORIA_METRICS,
    [
      `-storageDataPath=${join(dir, "data")}`,
      `-httpListenAddr=127.0.0.1:${port}`,
      "-retentionPeriod=100y",
      "-loggerLevel=WARN",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const add = (d: Buffer) => {
    output += d;
  };
  proc.stdout.on("data", add);
  proc.stderr.on("data", add);
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGKILL");
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) {
      await stop();
      throw new Error(`victoria-metrics exited at start:\n${output.slice(-2000)}`);
    }
    const ok = await fetch(`${base}/health`)
      .then(async (r) => r.ok && (await r.text()).trim() === "OK")
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`victoria-metrics did not become healthy:\n${output.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    base,
    stop,
    async exported(match, since, want) {
      const until = Date.now() + 15_000;
      for (;;) {
        await fetch(`${base}/internal/force_flush`);
        const q = new URLSearchParams({ "match[]": match, start: String(Math.floor(since / 1000) - 60) });
        const text = await (await fetch(`${base}/api/v1/export?${q}`)).text();
        const rows = text
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Exported);
        if (rows.length >= want) return rows;
        if (Date.now() > until) throw new Error(`VictoriaMetrics did not answer in time; got ${text}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/**
 * Upload a metrics batch through the real ingest endpoint with the device's newest token
 * (./support.js uploadBatch: the test plays the agent). Asserts 200.
 */
export async function uploadMetrics(
  s: ServerAt,
  deviceId: string,
  seq: number,
  body: Record<string, unknown>,
): Promise<{ accepted: number; dropped: Record<string, number>; skewMs: number }> {
  const res = await uploadBatch(s, deviceId, "metrics", seq, body);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}
