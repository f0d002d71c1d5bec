/** The StatsD endpoint: UDP on 127.0.0.1 (tether.metrics.statsdPort, default 8125) into the aggregator. */
import type { Drops } from "./drops.js";
import type { StatsdAggregator } from "./statsd.js";
import { listenUdp, type UdpListener } from "./udp.js";

export function startStatsdEndpoint(
  port: number,
  aggregator: StatsdAggregator,
  drops: Drops,
  now: () => number,
  onError: (err: Error) => void,
): Promise<UdpListener> {
  return listenUdp(port, drops, (text) => aggregator.ingest(text, now()), onError);
}
