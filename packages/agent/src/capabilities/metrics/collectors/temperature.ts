/**
 * Temperatures: thermal zones (sysRoot/class/thermal/thermal_zone*: type, temp) and hwmon
 * sensors (sysRoot/class/hwmon/hwmon*: name, temp*_input, temp*_label), millidegrees → °C.
 * The `sensor` label is the zone's type or `<hwmon name> <label>`; a name taken twice gets
 * its directory appended, so every sensor is its own series.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { gauge, round, type Sample } from "../sample.js";
import { type Collector, tryNumber, tryRead } from "./collector.js";

const list = (dir: string, re: RegExp): string[] => {
  try {
    return readdirSync(dir)
      .filter((e) => re.test(e))
      .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  } catch {
    return [];
  }
};

/** Readings outside this range are a sensor's error codes, not temperatures. */
const plausible = (c: number) => c > -100 && c < 250;

export function temperatureCollector(): Collector {
  return {
    name: "temperature",
    collect({ sysRoot }) {
      const found: { sensor: string; where: string; c: number }[] = [];
      const thermal = join(sysRoot, "class", "thermal");
      for (const z of list(thermal, /^thermal_zone\d+$/)) {
        const milli = tryNumber(thermal, z, "temp");
        if (milli === undefined) continue;
        found.push({ sensor: tryRead(thermal, z, "type") || z, where: z, c: milli / 1000 });
      }
      const hwmon = join(sysRoot, "class", "hwmon");
      for (const h of list(hwmon, /^hwmon\d+$/)) {
        const name = tryRead(hwmon, h, "name") || h;
        for (const input of list(join(hwmon, h), /^temp\d+_input$/)) {
          const milli = tryNumber(hwmon, h, input);
          if (milli === undefined) continue;
          const n = input.slice(0, -"_input".length);
          const label = tryRead(hwmon, h, `${n}_label`) || n;
          found.push({ sensor: `${name} ${label}`, where: `${h}/${n}`, c: milli / 1000 });
        }
      }
      const count = new Map<string, number>();
      for (const f of found) count.set(f.sensor, (count.get(f.sensor) ?? 0) + 1);
      const out: Sample[] = [];
      for (const f of found) {
        if (!plausible(f.c)) continue;
        const sensor = count.get(f.sensor)! > 1 ? `${f.sensor} (${f.where})` : f.sensor;
        out.push(gauge("temperature_celsius", round(f.c, 3), { sensor }));
      }
      if (found.length === 0 && list(thermal, /./).length === 0 && list(hwmon, /./).length === 0)
        throw Object.assign(new Error("no thermal zones or hwmon sensors"), { code: "ENOENT" });
      return out;
    },
  };
}
