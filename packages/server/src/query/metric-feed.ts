/**
 * What the metric store offers other capabilities (alerts) without their importing the
 * metrics capability (docs/architecture.md §10): the samples just stored, and the newest
 * sample of a series. The metric store (capabilities/metrics/store) implements it.
 */
export type Labels = Record<string, string>;

export interface LatestSample {
  deviceId: string;
  name: string;
  labels: Labels;
  kind: "gauge" | "counter";
  value: number;
  /** Server-corrected ms. */
  at: number;
}

/** Samples just stored, for the live stream. */
export interface StoredSamples {
  deviceId: string;
  series: { name: string; labels: Labels; points: [number, number][] }[];
}

/** The part of the metric store another capability may use. */
export interface MetricFeed {
  /** Listen to stored samples; returns the unsubscribe. */
  onStored(listener: (s: StoredSamples) => void): () => void;
  /** Newest sample of every matching series (one metric, or all when metric is undefined). */
  latest(q: { deviceIds: string[]; metric?: string; labels?: Labels }): Promise<LatestSample[]>;
}
