/**
 * Simulated devices uploading their telemetry buffers (bench:telemetry), in their own process.
 * Usage: uploader.ts '<json options>'
 *   { tokensFile, url, caFile, first (device index), count (devices), intervals (per device),
 *     perBatch (intervals in one batch; 1 = one collection interval), intervalMs, endAt (device
 *     time of the last interval), seqStart, seqStarts?, series, concurrency, stream? }
 * stream "logs" (bench:logs): each batch is `series` log lines of one interval from
 * ../logs/lines.ts (perBatch 1), its last line carrying the batch's marker word.
 * Every batch is generated and compressed before "go" (the clients' own CPU is not what is
 * measured); at send time only the envelope's head with `sentAt` is compressed, as a second
 * gzip member in front of the stored one (RFC 1952: a gzip file is a series of members), so
 * the server sees an upload time of now, as from a real agent.
 * Each device sends its batches in sequence order, one at a time (as an agent does);
 * `concurrency` uploads are in flight across devices. 503 (ingest busy) is retried.
 * Events: {ev:"prepared", batches, samples, bytes}, {ev:"progress", done}, {ev:"done", ...
 *   startedAt and lastAnswerAt (wall clock ms), lastMarker (logs: the marker of the batch answered last)}.
 */
import { readFileSync } from "node:fs";
import https from "node:https";
import { gzipSync } from "node:zlib";
import { emit, onCommand, sleep } from "../lib/util.js";
import { batchMarker, deviceLines } from "../logs/lines.js";
import { DeviceModel } from "./generator.js";

const o = JSON.parse(process.argv[2]!) as {
  tokensFile: string;
  url: string;
  caFile: string;
  first: number;
  count: number;
  intervals: number;
  perBatch: number;
  intervalMs: number;
  endAt: number;
  seqStart: number;
  /** Per device index (from `first`): a different first seq (a device that uploaded before). */
  seqStarts?: Record<string, number>;
  series: number;
  concurrency: number;
  stream?: "metrics" | "logs";
};

const devices = (JSON.parse(readFileSync(o.tokensFile, "utf8")) as { id: string; token: string }[]).slice(
  o.first,
  o.first + o.count,
);

interface Pending {
  head: string;
  gzRest: Buffer;
  samples: number;
  marker?: string;
}
const queues: Pending[][] = [];
let samples = 0;
let bytes = 0;
const t0 = performance.now();
for (let i = 0; i < devices.length && o.stream === "logs"; i++) {
  const q: Pending[] = [];
  for (let b = 0; b < o.intervals; b++) {
    const t = o.endAt - (o.intervals - 1 - b) * o.intervalMs;
    const logs = deviceLines(o.first + i, b, o.series, t, o.intervalMs);
    const seq = (o.seqStarts?.[String(o.first + i)] ?? o.seqStart) + b;
    const head = `{"v":1,"device":${JSON.stringify(devices[i]!.id)},"stream":"logs","seq":${seq},"sentAt":`;
    const gzRest = gzipSync(`,"logs":${JSON.stringify(logs)}}`);
    q.push({ head, gzRest, samples: logs.length, marker: batchMarker(o.first + i, b) });
    samples += logs.length;
    bytes += gzRest.length;
  }
  queues.push(q);
}
for (let i = 0; i < devices.length && o.stream !== "logs"; i++) {
  const dev = devices[i]!;
  const model = new DeviceModel(o.first + i, o.series, 11, o.intervalMs / 1000);
  const values = new Float64Array(model.series.length);
  const q: Pending[] = [];
  const batches = Math.ceil(o.intervals / o.perBatch);
  let k = 0;
  for (let b = 0; b < batches; b++) {
    const n = Math.min(o.perBatch, o.intervals - k);
    const points: [number, number][][] = model.series.map(() => []);
    for (let j = 0; j < n; j++, k++) {
      model.next(values);
      const t = o.endAt - (o.intervals - 1 - k) * o.intervalMs;
      for (let s = 0; s < values.length; s++) points[s]!.push([t, values[s]!]);
    }
    const metrics = model.series.map((s, j) => ({
      name: s.name,
      labels: s.labels,
      kind: s.kind,
      points: points[j],
    }));
    const seq = (o.seqStarts?.[String(o.first + i)] ?? o.seqStart) + b;
    const head = `{"v":1,"device":${JSON.stringify(dev.id)},"stream":"metrics","seq":${seq},"sentAt":`;
    const gzRest = gzipSync(`,"metrics":${JSON.stringify(metrics)}}`);
    q.push({ head, gzRest, samples: n * values.length });
    samples += n * values.length;
    bytes += gzRest.length;
  }
  queues.push(q);
}
emit({
  ev: "prepared",
  batches: queues.reduce((a, q) => a + q.length, 0),
  samples,
  bytes,
  ms: performance.now() - t0,
});

const ca = readFileSync(o.caFile, "utf8");
const agent = new https.Agent({ keepAlive: true, maxSockets: o.concurrency, ca });
const target = new URL("/api/v1/telemetry/batches", o.url);

function post(token: string, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      target,
      {
        method: "POST",
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          "content-encoding": "gzip",
          "content-length": body.length,
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function run() {
  let accepted = 0;
  let duplicates = 0;
  let retries = 0;
  let done = 0;
  const dropped: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const latencies: number[] = [];
  // Round robin over devices: a device is never in flight twice (its batches go in order).
  const ready: number[] = queues.map((_, i) => i).filter((i) => queues[i]!.length > 0);
  const next = queues.map(() => 0);
  const start = performance.now();
  const startedAt = Date.now();
  let lastAnswerAt = startedAt;
  let lastMarker: string | undefined;
  let lastProgress = start;
  const worker = async () => {
    for (;;) {
      const d = ready.shift();
      if (d === undefined) return;
      const b = queues[d]![next[d]!]!;
      const body = Buffer.concat([gzipSync(`${b.head}${Date.now()}`, { level: 1 }), b.gzRest]);
      for (let attempt = 0; ; attempt++) {
        const t = performance.now();
        let r: { status: number; text: string };
        try {
          r = await post(devices[d]!.token, body);
        } catch (err) {
          errors[(err as NodeJS.ErrnoException).code ?? "network"] =
            (errors[(err as NodeJS.ErrnoException).code ?? "network"] ?? 0) + 1;
          if (attempt > 20) throw err;
          await sleep(100);
          continue;
        }
        latencies.push(performance.now() - t);
        if (r.status === 200) {
          const res = JSON.parse(r.text) as {
            duplicate: boolean;
            accepted: number;
            dropped: Record<string, number>;
          };
          if (res.duplicate) duplicates++;
          lastAnswerAt = Date.now();
          lastMarker = b.marker;
          accepted += res.accepted;
          for (const [k, v] of Object.entries(res.dropped)) dropped[k] = (dropped[k] ?? 0) + v;
          break;
        }
        if (r.status === 503 && attempt < 50) {
          retries++;
          await sleep(50 + attempt * 20);
          continue;
        }
        const code = /"code":"([A-Z_]+)"/.exec(r.text)?.[1] ?? `HTTP ${r.status}`;
        errors[code] = (errors[code] ?? 0) + 1;
        if (Object.keys(errors).length && (errors[code] ?? 0) <= 3)
          process.stderr.write(`upload refused: ${r.status} ${r.text.slice(0, 300)}\n`);
        break;
      }
      done++;
      next[d]!++;
      if (next[d]! < queues[d]!.length) ready.push(d);
      if (performance.now() - lastProgress > 5000) {
        lastProgress = performance.now();
        emit({ ev: "progress", done });
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const ms = performance.now() - start;
  latencies.sort((a, b) => a - b);
  emit({
    ev: "done",
    ms,
    batches: done,
    samples,
    accepted,
    duplicates,
    retries,
    dropped,
    errors,
    p50: latencies[Math.floor(latencies.length / 2)],
    p99: latencies[Math.floor(latencies.length * 0.99)],
    startedAt,
    lastAnswerAt,
    lastMarker,
  });
}

onCommand((cmd) => {
  if (cmd === "go") {
    run().catch((err) => {
      emit({ ev: "failed", message: String(err?.stack ?? err) });
    });
  } else if (cmd === "quit") process.exit(0);
});
