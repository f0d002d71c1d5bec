/**
 * The server's own health (`GET /api/v1/server/metrics`, server admin only; docs/protocol.md
 * §14.5) in the Prometheus format: devices by state and online, telemetry ingest, the metric
 * store, remote write, live streams, the process (memory, CPU, event-loop lag), and whatever
 * the server adds through `serverStats` (the control channel: messages, handshakes, queues).
 */
import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";
import type { Kysely } from "kysely";
import type { DB } from "../../store/schema.js";
import type { TelemetryStats } from "../../telemetry/index.js";
import type { LiveHub } from "./live.js";
import { type ExpoFamily, metricName } from "./prometheus.js";
import type { RemoteWriter } from "./remote-write.js";
import type { MetricStoreStats } from "./store/types.js";

/** Figures only the server as a whole sees (control channel); `x_total` names become counters. */
export type ServerStatsProvider = () => Record<string, number>;

export interface ServerMetricsDeps {
  db: Kysely<DB>;
  telemetry: { stats(): TelemetryStats };
  store: { stats(): MetricStoreStats };
  live: LiveHub;
  remote?: RemoteWriter;
  serverStats?: ServerStatsProvider;
}

const gauge = (name: string, help: string, value: number, labels: [string, string][] = []): ExpoFamily => ({
  name,
  help,
  type: "gauge",
  samples: [{ labels, value }],
});
const counter = (name: string, help: string, value: number, labels: [string, string][] = []): ExpoFamily => ({
  name,
  help,
  type: "counter",
  samples: [{ labels, value }],
});

export class ServerMetrics {
  private readonly lag: IntervalHistogram;
  private readonly startedAt = Date.now();

  constructor(private readonly d: ServerMetricsDeps) {
    this.lag = monitorEventLoopDelay({ resolution: 20 });
    this.lag.enable();
  }

  close(): void {
    this.lag.disable();
  }

  async families(): Promise<ExpoFamily[]> {
    const { db } = this.d;
    const [states, online, outbox] = await Promise.all([
      db
        .selectFrom("devices")
        .select(["state", db.fn.countAll<number>().as("n")])
        .groupBy("state")
        .execute(),
      db
        .selectFrom("devices")
        .select(db.fn.countAll<number>().as("n"))
        .where("online", "=", 1)
        .executeTakeFirstOrThrow(),
      db.selectFrom("outbox").select(db.fn.countAll<number>().as("n")).executeTakeFirstOrThrow(),
    ]);
    const t = this.d.telemetry.stats();
    const m = this.d.store.stats();
    const out: ExpoFamily[] = [
      {
        name: "tether_devices",
        help: "Devices by enrollment state, all projects",
        type: "gauge",
        samples: states.map((r) => ({ labels: [["state", r.state]], value: Number(r.n) })),
      },
      gauge("tether_devices_online", "Devices connected to the control channel now", Number(online.n)),
      gauge(
        "tether_control_outbox_messages",
        "Durable control messages waiting for their device's acknowledgement",
        Number(outbox.n),
      ),
      {
        name: "tether_telemetry_batches_total",
        help: "Telemetry batches received, by result (rejected: by reason)",
        type: "counter",
        samples: [
          { labels: [["result", "accepted"]], value: t.batchesAccepted },
          { labels: [["result", "duplicate"]], value: t.batchesDuplicate },
          ...Object.entries(t.batchesRejected).map(([reason, value]) => ({
            labels: [
              ["result", "rejected"],
              ["reason", reason],
            ] as [string, string][],
            value,
          })),
        ],
      },
      counter("tether_telemetry_samples_total", "Samples accepted by telemetry ingest", t.samplesAccepted),
      counter(
        "tether_telemetry_received_bytes_total",
        "Bytes of telemetry uploads received",
        t.bytesReceived,
      ),
      gauge("tether_metric_series", "Metric series the store knows", m.series),
      gauge("tether_metric_recent_rows", "Batches stored but not yet compacted into chunks", m.recentRows),
      gauge("tether_metric_chunks", "Compacted chunks of samples", m.chunks),
      counter(
        "tether_metric_samples_stored_total",
        "Samples stored since the server started",
        m.samplesStored,
      ),
      counter(
        "tether_metric_series_limit_drops_total",
        "Samples dropped because their device has the most series allowed",
        m.seriesLimitDrops,
      ),
      gauge("tether_metric_live_streams", "Live metric streams open", this.d.live.size),
      counter(
        "tether_metric_live_dropped_total",
        "Live metric streams dropped because the client did not read",
        this.d.live.slowDropped,
      ),
    ];
    if (m.lastCompactionMs !== null)
      out.push(
        gauge(
          "tether_metric_last_compaction_timestamp_seconds",
          "When the metric store last compacted, seconds since the epoch",
          m.lastCompactionMs / 1000,
        ),
      );
    const r = this.d.remote?.stats();
    if (r) {
      out.push(
        {
          name: "tether_remote_write_samples_total",
          help: "Samples forwarded by remote write, by result",
          type: "counter",
          samples: (["sent", "dropped", "rejected"] as const).map((k) => ({
            labels: [["result", k]],
            value: r[k],
          })),
        },
        gauge("tether_remote_write_queued_samples", "Samples waiting to be forwarded", r.queued),
        counter("tether_remote_write_retries_total", "Remote-write requests retried", r.retries),
      );
    }
    out.push(...this.process());
    for (const [k, v] of Object.entries(this.d.serverStats?.() ?? {})) {
      if (!Number.isFinite(v)) continue;
      const name = metricName(`tether_${k}`);
      out.push((name.endsWith("_total") ? counter : gauge)(name, `Tether server: ${k}`, v));
    }
    return out;
  }

  private process(): ExpoFamily[] {
    const mem = process.memoryUsage();
    const cpu = process.cpuUsage();
    const lag = this.lag;
    const f = [
      gauge("process_resident_memory_bytes", "Resident memory of the server process", mem.rss),
      gauge("nodejs_heap_used_bytes", "JavaScript heap in use", mem.heapUsed),
      counter("process_cpu_seconds_total", "CPU time of the server process", (cpu.user + cpu.system) / 1e6),
      gauge(
        "process_start_time_seconds",
        "When the server started, seconds since the epoch",
        this.startedAt / 1000,
      ),
      gauge(
        "nodejs_eventloop_lag_p99_seconds",
        "Event-loop delay, 99th percentile since the last scrape",
        lag.percentile(99) / 1e9,
      ),
      gauge(
        "nodejs_eventloop_lag_max_seconds",
        "Event-loop delay, maximum since the last scrape",
        lag.max / 1e9,
      ),
      gauge(
        "nodejs_eventloop_lag_mean_seconds",
        "Event-loop delay, mean since the last scrape",
        (lag.mean || 0) / 1e9,
      ),
    ];
    lag.reset();
    return f;
  }
}
