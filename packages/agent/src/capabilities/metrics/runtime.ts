/**
 * The metrics module's runtime for one agent (docs/protocol.md §14): from agent start, also
 * while offline, it seals one batch per collection interval into the telemetry buffer —
 * system collectors, StatsD summaries, Influx points and scraped samples — through the
 * series limit. Losses before the buffer are counted (agent_dropped_samples_total) and
 * recorded as gaps; nothing is dropped silently.
 */
import type { TelemetryGap } from "@tether/protocol";
import type { Logger } from "pino";
import type { AgentTelemetry, StreamWriter } from "../../telemetry/index.js";
import { buildBatch, type Loss, MAX_POINTS_PER_BATCH } from "./batch.js";
import { agentHealthCollector } from "./collectors/agent-health.js";
import {
  type Collector,
  CollectorRunner,
  realStatfs,
  type Statfs,
  systemCollectors,
} from "./collectors/index.js";
import { Drops } from "./drops.js";
import { type InfluxEndpoint, startInfluxEndpoint } from "./influx-server.js";
import type { Sample } from "./sample.js";
import { Scraper } from "./scraper.js";
import { SeriesBook } from "./series-book.js";
import { type LoadedMetricsSettings, loadMetricsSettings, type MetricsSources } from "./settings-load.js";
import {
  parseRemoteSettings,
  type ResolvedMetricsSettings,
  resolveSettings,
  type SettingsLayer,
} from "./settings.js";
import { startStatsdEndpoint } from "./statsd-server.js";
import { StatsdAggregator } from "./statsd.js";
import { throttle, type UdpListener } from "./udp.js";

export interface MetricsOptions extends MetricsSources {
  telemetry: AgentTelemetry;
  /** The device's settings, loaded at agent start (else loaded here from settingsFile/flags). */
  settings?: LoadedMetricsSettings;
  /** Device clock (tests). */
  now?: () => number;
  /** statfs for disk usage (fixture trees). */
  statfs?: Statfs;
  /** Replaces the system collectors (tests). */
  collectors?: Collector[];
  /** Bind enabled endpoints to free ports instead of the configured ones (tests; see `ports`). */
  ephemeralPorts?: boolean;
}

const sameTargets = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export class MetricsRuntime {
  readonly drops = new Drops();
  private readonly telemetry: AgentTelemetry | null;
  private readonly stream: StreamWriter | null;
  private readonly now: () => number;
  private readonly statfs: Statfs;
  private readonly runner: CollectorRunner;
  private readonly aggregator: StatsdAggregator;
  private readonly book: SeriesBook;
  private readonly scraper: Scraper;
  private readonly local: { flags: SettingsLayer; file: SettingsLayer };
  private current: ResolvedMetricsSettings;
  /** Influx points and scraped samples waiting for the next batch (bounded). */
  private pending: Sample[] = [];
  /** Losses counted since the last batch, by reason, for its gap records. */
  private losses: Record<string, Loss> = {};
  private timer: NodeJS.Timeout | null = null;
  private statsd: UdpListener | null = null;
  private influx: InfluxEndpoint | null = null;
  private listening: Promise<void> = Promise.resolve();
  private running = false;
  private readonly warnOnce: (key: string) => boolean;
  private readonly ephemeral: boolean;

  constructor(
    private readonly log: Logger,
    options: MetricsOptions | undefined,
  ) {
    this.telemetry = options?.telemetry ?? null;
    this.stream = this.telemetry?.stream("metrics") ?? null;
    this.now = options?.now ?? Date.now;
    this.statfs = options?.statfs ?? realStatfs;
    this.ephemeral = options?.ephemeralPorts ?? false;
    this.warnOnce = throttle(60_000, this.now);
    const loaded = options?.settings ?? loadMetricsSettings(options ?? {});
    for (const w of loaded.warnings) log.warn(w);
    this.local = { flags: loaded.flags, file: loaded.file };
    this.current = loaded.resolved;
    this.book = new SeriesBook(this.current.maxSeries);
    this.aggregator = new StatsdAggregator(this.drops);
    const collectors = options?.collectors ?? systemCollectors();
    if (this.telemetry) {
      const t = this.telemetry;
      collectors.push(
        agentHealthCollector(
          () => t.status(),
          () => this.drops.snapshot(),
        ),
      );
    }
    this.runner = new CollectorRunner(collectors, log);
    this.scraper = new Scraper((s) => this.enqueue(s), this.drops, log, this.now);
  }

  get settings(): ResolvedMetricsSettings {
    return this.current;
  }

  /** The bound ports (after `whenListening`), for tests and the log. */
  get ports(): { statsd: number | null; influx: number | null } {
    return { statsd: this.statsd?.port ?? null, influx: this.influx?.port ?? null };
  }

  /** Resolves once the local endpoints are bound (or failed to, logged). */
  whenListening(): Promise<void> {
    return this.listening;
  }

  start(): void {
    if (!this.stream) {
      this.log.warn("metrics: no telemetry layer was given; collection is off");
      return;
    }
    if (this.running) return;
    this.running = true;
    // The layer was created with the resolved buffer size (agent.ts); only remote changes resize it.
    const s = this.current;
    this.log.info(
      {
        intervalMs: s.intervalMs,
        statsdPort: s.statsdPort,
        influxPort: s.influxPort,
        scrape: s.scrape.length,
      },
      "metrics: collecting",
    );
    // The first run primes the rate-based collectors (CPU) and seals a first batch at once.
    this.tick();
    this.schedule();
    this.listening = this.openEndpoints(s.statsdPort, s.influxPort);
    this.scraper.set(s.scrape, s.intervalMs);
  }

  /**
   * Stop timers and listeners. What StatsD/Influx/scrapes delivered since the last batch is
   * sealed first, synchronously: onStopping cannot wait, and the telemetry layer stops after it.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.scraper.stop();
    try {
      this.seal([], this.takeApplicationSamples(this.now()), this.now());
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "metrics: last batch not sealed");
    }
    await this.listening;
    await Promise.all([this.statsd?.close(), this.influx?.close()]);
    this.statsd = this.influx = null;
  }

  /** Remote settings (precedence remote > file > flags > defaults; device-only keys and unlisted scrape targets refused). */
  applySettings(raw: unknown): void {
    const { layer, refused } = parseRemoteSettings(raw, this.current.allowScrape);
    for (const r of refused) this.log.warn(`metrics: ${r}`);
    const before = this.current;
    const next = resolveSettings({ ...this.local, remote: layer });
    this.current = next;
    if (next.maxSeries !== before.maxSeries) this.book.setMax(next.maxSeries);
    if (next.bufferBytes !== before.bufferBytes) this.telemetry?.resize(next.bufferBytes);
    if (!this.running) return;
    if (next.intervalMs !== before.intervalMs) this.schedule();
    if (next.statsdPort !== before.statsdPort || next.influxPort !== before.influxPort) {
      this.listening = this.listening.then(() => this.reopenEndpoints(before, next));
    }
    if (next.intervalMs !== before.intervalMs || !sameTargets(next.scrape, before.scrape))
      this.scraper.set(next.scrape, next.intervalMs);
    this.log.info({ from: next.from }, "metrics: settings applied");
  }

  /** One collection interval: collect, build, seal (exported for tests through the module). */
  tick(): void {
    const now = this.now();
    const c = this.current;
    const system = this.runner.run({ procRoot: c.procRoot, sysRoot: c.sysRoot, statfs: this.statfs, now });
    this.book.prune(now);
    this.seal(system, this.takeApplicationSamples(now), now);
  }

  private takeApplicationSamples(now: number): Sample[] {
    const out = this.aggregator.flush(now);
    for (const s of this.pending) out.push(s);
    this.pending = [];
    return out;
  }

  private seal(system: Sample[], app: Sample[], now: number): void {
    if (!this.stream) return;
    const { content, losses } = buildBatch(system, app, now, this.book);
    for (const [reason, l] of Object.entries(losses)) {
      this.drops.add(reason, l.count);
      this.addLoss(reason, l);
    }
    for (const [reason, l] of Object.entries(this.losses)) {
      const gap: TelemetryGap = { from: l.from, to: l.to, count: l.count, reason };
      this.stream.recordGap(gap);
      if (this.warnOnce(reason))
        this.log.warn(
          { reason, count: l.count, maxSeries: this.current.maxSeries },
          reason === "series-limit"
            ? `metrics: ${l.count} samples of new series dropped: the agent keeps at most ${this.current.maxSeries} series (tether.metrics.maxSeries)`
            : `metrics: ${l.count} samples dropped (${reason})`,
        );
    }
    this.losses = {};
    if (content) this.stream.append(content);
  }

  private addLoss(reason: string, l: Loss): void {
    const prev = this.losses[reason];
    this.losses[reason] = prev
      ? { count: prev.count + l.count, from: Math.min(prev.from, l.from), to: Math.max(prev.to, l.to) }
      : { ...l };
  }

  /** Influx points and scrape results: queued for the next batch, bounded. */
  private enqueue(samples: Sample[]): void {
    const room = MAX_POINTS_PER_BATCH - this.pending.length;
    for (let i = 0; i < samples.length; i++) {
      if (i < room) this.pending.push(samples[i]!);
      else {
        const t = samples[i]!.t ?? this.now();
        this.addLoss("rate-limit", { count: 1, from: t, to: t });
        this.drops.add("rate-limit");
      }
    }
  }

  private schedule(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => {
      try {
        this.tick();
      } catch (err) {
        this.log.error({ err: (err as Error).message }, "metrics: collection failed");
      }
    }, this.current.intervalMs);
    this.timer.unref();
  }

  private onError = (err: Error) => {
    if (this.warnOnce(`endpoint:${err.message}`))
      this.log.warn({ err: err.message }, "metrics: local endpoint error");
  };

  private async openEndpoints(statsdPort: number, influxPort: number): Promise<void> {
    await Promise.all([this.openStatsd(statsdPort), this.openInflux(influxPort)]);
  }

  private async openStatsd(port: number): Promise<void> {
    if (port === 0) return;
    try {
      this.statsd = await startStatsdEndpoint(
        this.ephemeral ? 0 : port,
        this.aggregator,
        this.drops,
        this.now,
        this.onError,
      );
      this.log.info({ port: this.statsd.port }, "metrics: StatsD on udp 127.0.0.1");
    } catch (err) {
      this.log.error(
        { port, err: (err as Error).message },
        `metrics: cannot listen for StatsD on 127.0.0.1:${port}; StatsD is off (tether.metrics.statsdPort)`,
      );
    }
  }

  private async openInflux(port: number): Promise<void> {
    if (port === 0) return;
    try {
      this.influx = await startInfluxEndpoint({
        port: this.ephemeral ? 0 : port,
        drops: this.drops,
        sink: (s) => this.enqueue(s),
        now: this.now,
        onError: this.onError,
      });
      this.log.info({ port: this.influx.port }, "metrics: InfluxDB line protocol on udp+http 127.0.0.1");
    } catch (err) {
      this.log.error(
        { port, err: (err as Error).message },
        `metrics: cannot listen for InfluxDB line protocol on 127.0.0.1:${port}; it is off (tether.metrics.influxPort)`,
      );
    }
  }

  private async reopenEndpoints(
    before: ResolvedMetricsSettings,
    next: ResolvedMetricsSettings,
  ): Promise<void> {
    if (!this.running) return;
    if (next.statsdPort !== before.statsdPort) {
      await this.statsd?.close();
      this.statsd = null;
      await this.openStatsd(next.statsdPort);
    }
    if (next.influxPort !== before.influxPort) {
      await this.influx?.close();
      this.influx = null;
      await this.openInflux(next.influxPort);
    }
  }
}
