/**
 * Stored samples → remote write (docs/protocol.md §14.6): each series gets the labels
 * `__name__`, `device` (name), `device_id`, `project` plus its own, sorted by name as the
 * remote-write spec requires. A series' own label with one of those names is kept as
 * `exported_<name>` (as Prometheus does on a scrape), never silently replaced.
 */
import type { Logger } from "pino";
import type { DeviceName, DeviceNames } from "../../query/device-names.js";
import type { RemoteWriter } from "./remote-write.js";
import type { PromLabel, PromSeries } from "./remote-write-proto.js";
import type { MetricStore, StoredSamples } from "./store/types.js";

const SERVER_LABELS = new Set(["__name__", "device", "device_id", "project"]);

export function promLabels(name: string, d: DeviceName, own: Record<string, string>): PromLabel[] {
  const all: Record<string, string> = {};
  for (const [k, v] of Object.entries(own)) all[SERVER_LABELS.has(k) ? `exported_${k}` : k] = v;
  Object.assign(all, { __name__: name, device: d.name, device_id: d.id, project: d.project });
  return Object.keys(all)
    .sort()
    .map((k) => ({ name: k, value: all[k]! }));
}

export function toPromSeries(s: StoredSamples, d: DeviceName): PromSeries[] {
  return s.series.map((x) => ({ labels: promLabels(x.name, d, x.labels), samples: x.points }));
}

/** Forward every stored sample to `writer`, in the order stored; returns the unsubscribe. */
export function feedRemoteWrite(
  store: Pick<MetricStore, "onStored">,
  names: DeviceNames,
  writer: RemoteWriter,
  log: Logger,
): () => void {
  // Lookups are async; the chain keeps batches in the order they were stored.
  let chain: Promise<void> = Promise.resolve();
  let pending = 0;
  const forward = (s: StoredSamples, d: DeviceName | null) => {
    if (d) for (const p of toPromSeries(s, d)) writer.push(p);
  };
  return store.onStored((s) => {
    const known = pending === 0 ? names.peek(s.deviceId) : undefined;
    if (known !== undefined) return forward(s, known);
    pending++;
    chain = chain
      .then(async () => forward(s, await names.get(s.deviceId)))
      .catch((err) => log.error({ err, deviceId: s.deviceId }, "metrics remote write: device lookup failed"))
      .finally(() => void pending--);
  });
}
