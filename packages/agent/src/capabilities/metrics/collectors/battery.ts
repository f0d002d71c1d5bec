/**
 * Batteries: EVERY sysRoot/class/power_supply entry whose type is Battery, whatever its name
 * (BAT0 on laptops, axp20x-battery on single-board computers, ...). Units as the kernel gives
 * them: µV, µA, µW → V, A, W; power is power_now where given, else voltage × current.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { gauge, round, type Sample } from "../sample.js";
import { type Collector, tryNumber, tryRead } from "./collector.js";

/** battery_status values (the metric names list in the brief / docs/protocol.md §14). */
export const BATTERY_STATUS: Record<string, number> = {
  unknown: 0,
  charging: 1,
  discharging: 2,
  "not charging": 3,
  full: 4,
};

export function batteryCollector(): Collector {
  return {
    name: "battery",
    collect({ sysRoot }) {
      const dir = join(sysRoot, "class", "power_supply");
      const out: Sample[] = [];
      for (const name of readdirSync(dir).sort()) {
        if (tryRead(dir, name, "type") !== "Battery") continue;
        if (tryNumber(dir, name, "present") === 0) continue;
        const labels = { battery: name };
        let capacity = tryNumber(dir, name, "capacity");
        // Some fuel gauges give only charge or energy counters: derive the percentage.
        if (capacity === undefined) {
          const now = tryNumber(dir, name, "charge_now") ?? tryNumber(dir, name, "energy_now");
          const full = tryNumber(dir, name, "charge_full") ?? tryNumber(dir, name, "energy_full");
          if (now !== undefined && full) capacity = round((now / full) * 100, 2);
        }
        if (capacity !== undefined) out.push(gauge("battery_capacity_percent", capacity, labels));
        const status = tryRead(dir, name, "status");
        if (status !== undefined)
          out.push(gauge("battery_status", BATTERY_STATUS[status.toLowerCase()] ?? 0, labels));
        const uv = tryNumber(dir, name, "voltage_now");
        const ua = tryNumber(dir, name, "current_now");
        const uw = tryNumber(dir, name, "power_now");
        const v = uv === undefined ? undefined : uv / 1e6;
        const a = ua === undefined ? undefined : ua / 1e6;
        if (v !== undefined) out.push(gauge("battery_voltage_volts", round(v, 3), labels));
        if (a !== undefined) out.push(gauge("battery_current_amps", round(a, 3), labels));
        const w = uw !== undefined ? uw / 1e6 : v !== undefined && a !== undefined ? v * a : undefined;
        if (w !== undefined) out.push(gauge("battery_power_watts", round(w, 3), labels));
      }
      return out;
    },
  };
}
