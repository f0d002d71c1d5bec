/**
 * The series registry in memory (docs/protocol.md §14.4): per device, (name, labels) → series,
 * loaded lazily from `metric_series`, plus each series' newest sample and the device's
 * key-figure ring. The database is the truth; this is a cache that ingest keeps current after
 * each commit and that is rebuilt on a miss.
 */
import type { Kysely } from "kysely";
import { sql } from "kysely";
import { FigureRing, figureIndex } from "./key-figures.js";
import type { Labels } from "./types.js";

export interface SeriesInfo {
  /** -1 while its insert is pending in an open transaction. */
  id: number;
  deviceId: string;
  name: string;
  labels: Labels;
  /** Canonical labels JSON (sorted keys), as stored. */
  labelsJson: string;
  kind: "gauge" | "counter";
  /** Key figure index (key-figures.ts) or -1. */
  figure: number;
  /** Newest sample, server ms; NaN when unknown. */
  lastAt: number;
  lastValue: number;
}

export class DeviceSeries {
  /** Canonical keys `name\n{labels}`, and aliases (the same labels in another key order). */
  readonly byKey = new Map<string, SeriesInfo>();
  readonly list: SeriesInfo[] = [];
  /** The series that feed a key figure (the fleet summary reads only these). */
  readonly figureSeries: SeriesInfo[] = [];
  /** Server time of the device's newest sample; NaN before any. */
  newestAt = Number.NaN;
  aliases = 0;
  latestLoaded = false;
  readonly ring = new FigureRing();
  lastLimitWarn = Number.NEGATIVE_INFINITY;
  constructor(readonly id: string) {}
}

export function seriesKey(name: string, labelsJson: string): string {
  return `${name}\n${labelsJson}`;
}

export function newSeries(
  deviceId: string,
  name: string,
  labelsJson: string,
  kind: "gauge" | "counter",
  id = -1,
): SeriesInfo {
  return {
    id,
    deviceId,
    name,
    labels: JSON.parse(labelsJson) as Labels,
    labelsJson,
    kind,
    figure: figureIndex(name),
    lastAt: Number.NaN,
    lastValue: Number.NaN,
  };
}

export class SeriesRegistry {
  private readonly devices = new Map<string, DeviceSeries>();
  private readonly loading = new Map<string, Promise<DeviceSeries>>();
  readonly byId = new Map<number, SeriesInfo>();

  constructor(private readonly maxAliases: number) {}

  /** The device's series, loading them from the database the first time. */
  async device(db: Kysely<any>, deviceId: string): Promise<DeviceSeries> {
    const known = this.devices.get(deviceId);
    if (known) return known;
    let p = this.loading.get(deviceId);
    if (!p) {
      p = this.load(db, deviceId).finally(() => this.loading.delete(deviceId));
      this.loading.set(deviceId, p);
    }
    return p;
  }

  peek(deviceId: string): DeviceSeries | undefined {
    return this.devices.get(deviceId);
  }

  private async load(db: Kysely<any>, deviceId: string): Promise<DeviceSeries> {
    const { rows } = await sql<{ id: number; name: string; labels: string; kind: string }>`
      select id, name, labels, kind from metric_series where device_id = ${deviceId} order by id`.execute(db);
    const dev = new DeviceSeries(deviceId);
    for (const r of rows) {
      const s = newSeries(
        deviceId,
        r.name,
        r.labels,
        r.kind === "counter" ? "counter" : "gauge",
        Number(r.id),
      );
      this.add(dev, s);
    }
    this.devices.set(deviceId, dev);
    return dev;
  }

  /** Register a series (pending or stored). */
  add(dev: DeviceSeries, s: SeriesInfo): void {
    dev.byKey.set(seriesKey(s.name, s.labelsJson), s);
    dev.list.push(s);
    if (s.figure >= 0) dev.figureSeries.push(s);
    if (s.id >= 0) this.byId.set(s.id, s);
  }

  /** Another spelling of a known series' key; bounded, the canonical lookup still works without it. */
  alias(dev: DeviceSeries, key: string, s: SeriesInfo): void {
    if (dev.aliases >= this.maxAliases) return;
    dev.byKey.set(key, s);
    dev.aliases++;
  }

  /** A pending series got its id (its transaction is still open). */
  stored(s: SeriesInfo, id: number): void {
    s.id = id;
    this.byId.set(id, s);
  }

  /** The transaction that created these series failed: forget them (and the aliases, to be safe). */
  rollback(created: SeriesInfo[]): void {
    const devs = new Set<DeviceSeries>();
    for (const s of created) {
      const dev = this.devices.get(s.deviceId);
      if (!dev) continue;
      devs.add(dev);
      if (s.id >= 0) this.byId.delete(s.id);
    }
    const gone = new Set(created);
    for (const dev of devs) {
      const keep = dev.list.filter((s) => !gone.has(s));
      dev.list.length = 0;
      dev.list.push(...keep);
      const figures = keep.filter((s) => s.figure >= 0);
      dev.figureSeries.length = 0;
      dev.figureSeries.push(...figures);
      dev.byKey.clear();
      dev.aliases = 0;
      for (const s of keep) dev.byKey.set(seriesKey(s.name, s.labelsJson), s);
    }
  }

  drop(deviceId: string): void {
    const dev = this.devices.get(deviceId);
    if (!dev) return;
    for (const s of dev.list) this.byId.delete(s.id);
    this.devices.delete(deviceId);
  }

  get seriesCount(): number {
    return this.byId.size;
  }
}
