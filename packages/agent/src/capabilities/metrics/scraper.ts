/**
 * Scraping of local Prometheus endpoints (tether.metrics.scrape): each target on its own
 * timer (its interval, else the collection interval), one scrape at a time per target, with a
 * timeout and a cap on the body; a failure is logged at most once a minute per target and
 * never stops the others. What a scrape yields waits in the module's queue for the next batch.
 */
import type { Logger } from "pino";
import type { Drops } from "./drops.js";
import { parsePrometheusText } from "./prometheus-text.js";
import type { Sample } from "./sample.js";
import type { ScrapeTarget } from "./settings.js";
import { throttle } from "./udp.js";

/** Bytes of one scraped body (after decompression). */
export const MAX_SCRAPE_BYTES = 8 * 1024 * 1024;
/** The longest a scrape may take (and never longer than its interval). */
export const SCRAPE_TIMEOUT_MS = 10_000;

class ScrapeError extends Error {}

async function readCapped(res: Response, max: number): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new ScrapeError(`body over ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** One scrape: the samples, or throws with a reason for the log. */
export async function scrapeOnce(
  target: ScrapeTarget,
  timeoutMs: number,
  now: () => number,
  drops: Drops,
  maxBytes = MAX_SCRAPE_BYTES,
): Promise<Sample[]> {
  const res = await fetch(target.url, {
    signal: AbortSignal.timeout(timeoutMs),
    headers: { accept: "text/plain;version=0.0.4;q=1,*/*;q=0.1" },
    redirect: "error",
  });
  if (!res.ok) {
    await res.body?.cancel();
    throw new ScrapeError(`HTTP ${res.status}`);
  }
  const declared = Number(res.headers.get("content-length") ?? 0);
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new ScrapeError(`body over ${maxBytes} bytes`);
  }
  const text = await readCapped(res, maxBytes);
  return parsePrometheusText(text, now(), drops, target.labels);
}

interface Running {
  target: ScrapeTarget;
  timer: NodeJS.Timeout;
  busy: boolean;
}

export class Scraper {
  private running: Running[] = [];
  private readonly warnOnce = throttle(60_000);

  constructor(
    private readonly sink: (samples: Sample[]) => void,
    private readonly drops: Drops,
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly maxBytes = MAX_SCRAPE_BYTES,
  ) {}

  /** (Re)start with these targets; timers of the previous ones stop. */
  set(targets: ScrapeTarget[], defaultIntervalMs: number): void {
    this.stop();
    for (const target of targets) {
      const interval = target.intervalMs ?? defaultIntervalMs;
      const r: Running = {
        target,
        busy: false,
        timer: setInterval(() => this.scrape(r, interval), interval),
      };
      r.timer.unref();
      this.running.push(r);
      this.scrape(r, interval);
    }
  }

  private scrape(r: Running, interval: number): void {
    if (r.busy) return; // the previous scrape still runs: skip rather than pile up
    r.busy = true;
    scrapeOnce(r.target, Math.min(SCRAPE_TIMEOUT_MS, interval), this.now, this.drops, this.maxBytes)
      .then((samples) => {
        if (this.running.includes(r) && samples.length) this.sink(samples);
      })
      .catch((err: Error) => {
        if (this.warnOnce(r.target.url))
          this.log.warn({ target: r.target.url, err: err.message }, "metrics: scrape failed");
      })
      .finally(() => {
        r.busy = false;
      });
  }

  stop(): void {
    for (const r of this.running) clearInterval(r.timer);
    this.running = [];
  }
}
