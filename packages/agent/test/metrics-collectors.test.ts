// @matrix: once
// The system collectors read exact values from fixture /proc and /sys trees (docs/protocol.md
// §14): CPU from /proc/stat deltas, memory, disks, network, wireless, temperatures, EVERY
// battery (BAT0 and axp20x-battery), uptime, processes; a missing file is logged once and skipped.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { batteryCollector } from "../src/capabilities/metrics/collectors/battery.js";
import type { CollectContext, FsStats } from "../src/capabilities/metrics/collectors/collector.js";
import { cpuCollector } from "../src/capabilities/metrics/collectors/cpu.js";
import { diskIoCollector, diskUsageCollector } from "../src/capabilities/metrics/collectors/disk.js";
import { CollectorRunner, systemCollectors } from "../src/capabilities/metrics/collectors/index.js";
import {
  loadCollector,
  processesCollector,
  uptimeCollector,
} from "../src/capabilities/metrics/collectors/load.js";
import { memoryCollector } from "../src/capabilities/metrics/collectors/memory.js";
import { networkCollector, wirelessCollector } from "../src/capabilities/metrics/collectors/network.js";
import { temperatureCollector } from "../src/capabilities/metrics/collectors/temperature.js";
import type { Sample } from "../src/capabilities/metrics/sample.js";
import { captureLog, PROC, SYS } from "./fixtures/metrics/support.js";

const STATFS: Record<string, FsStats> = {
  "/": { bsize: 4096, blocks: 1_000_000, bfree: 400_000, bavail: 350_000 },
  "/mnt/robot data": { bsize: 1024, blocks: 1000, bfree: 1000, bavail: 1000 },
};
const ctx = (over: Partial<CollectContext> = {}): CollectContext => ({
  procRoot: PROC,
  sysRoot: SYS,
  statfs: (p) => {
    const s = STATFS[p];
    if (!s) throw Object.assign(new Error(`ENOENT ${p}`), { code: "ENOENT" });
    return s;
  },
  now: 1_764_583_320_000,
  ...over,
});

/** `name{k=v,...}` → value, kind marked with a trailing `!` for counters. */
function table(samples: Sample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    const l = s.labels
      ? `{${Object.entries(s.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(",")}}`
      : "";
    out[`${s.name}${l}${s.kind === "counter" ? "!" : ""}`] = s.value;
  }
  return out;
}

test("CPU usage, total and per core, from the /proc/stat deltas between two collections", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tether-proc-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(PROC, dir, { recursive: true });
  const cpu = cpuCollector();
  assert.deepEqual(cpu.collect(ctx({ procRoot: dir })), [], "the first reading only primes");
  writeFileSync(
    join(dir, "stat"),
    "cpu  1250 0 581 8550 619 0 0 0 0 0\ncpu0 750 0 350 4150 250 0 0 0 0 0\ncpu1 500 0 231 4400 369 0 0 0 0 0\n",
  );
  assert.deepEqual(table(cpu.collect(ctx({ procRoot: dir }))), {
    cpu_usage_percent: 33.1,
    "cpu_core_usage_percent{cpu=0}": 40,
    "cpu_core_usage_percent{cpu=1}": 26.2,
  });
  // Nothing moved: no division by zero, no figure.
  assert.deepEqual(cpu.collect(ctx({ procRoot: dir })), []);
});

test("load, uptime, process count and memory", () => {
  assert.deepEqual(table(loadCollector().collect(ctx())), { load1: 0.52, load5: 0.58, load15: 0.59 });
  assert.deepEqual(table(uptimeCollector().collect(ctx())), { uptime_seconds: 12345.67 });
  assert.deepEqual(
    table(processesCollector().collect(ctx())),
    { processes: 3 },
    "the numeric dirs 1, 42, 1000",
  );
  assert.deepEqual(table(memoryCollector().collect(ctx())), {
    memory_total_bytes: 4_096_000_000,
    memory_available_bytes: 3_072_000_000,
    memory_used_bytes: 1_024_000_000,
    memory_used_percent: 25,
    swap_total_bytes: 2_048_000_000,
    swap_used_bytes: 512_000_000,
  });
});

test("disk usage per real mount (escaped names, pseudo filesystems and duplicates left out) and I/O per whole disk", () => {
  assert.deepEqual(table(diskUsageCollector().collect(ctx())), {
    "disk_total_bytes{mount=/}": 4_096_000_000,
    "disk_used_bytes{mount=/}": 2_457_600_000,
    "disk_used_percent{mount=/}": 63.16,
    "disk_total_bytes{mount=/mnt/robot data}": 1_024_000,
    "disk_used_bytes{mount=/mnt/robot data}": 0,
    "disk_used_percent{mount=/mnt/robot data}": 0,
  });
  assert.deepEqual(table(diskIoCollector().collect(ctx())), {
    "disk_reads_total{disk=sda}!": 1000,
    "disk_read_bytes_total{disk=sda}!": 10_240_000,
    "disk_writes_total{disk=sda}!": 2000,
    "disk_written_bytes_total{disk=sda}!": 20_480_000,
    "disk_reads_total{disk=mmcblk0}!": 300,
    "disk_read_bytes_total{disk=mmcblk0}!": 3_072_000,
    "disk_writes_total{disk=mmcblk0}!": 40,
    "disk_written_bytes_total{disk=mmcblk0}!": 409_600,
    "disk_reads_total{disk=nvme0n1}!": 5000,
    "disk_read_bytes_total{disk=nvme0n1}!": 51_200_000,
    "disk_writes_total{disk=nvme0n1}!": 6000,
    "disk_written_bytes_total{disk=nvme0n1}!": 153_600_000,
  });
});

test("network counters per interface without lo, and wireless link quality and signal", () => {
  const net = table(networkCollector().collect(ctx()));
  assert.equal(Object.keys(net).filter((k) => k.includes("interface=lo")).length, 0);
  assert.deepEqual(net, {
    "net_rx_bytes_total{interface=eth0}!": 98_765_432,
    "net_rx_packets_total{interface=eth0}!": 80_000,
    "net_rx_errors_total{interface=eth0}!": 3,
    "net_tx_bytes_total{interface=eth0}!": 1_234_567,
    "net_tx_packets_total{interface=eth0}!": 9000,
    "net_tx_errors_total{interface=eth0}!": 1,
    "net_rx_bytes_total{interface=wlan0}!": 5_555_555,
    "net_rx_packets_total{interface=wlan0}!": 4444,
    "net_rx_errors_total{interface=wlan0}!": 2,
    "net_tx_bytes_total{interface=wlan0}!": 666_666,
    "net_tx_packets_total{interface=wlan0}!": 3333,
    "net_tx_errors_total{interface=wlan0}!": 0,
  });
  assert.deepEqual(table(wirelessCollector().collect(ctx())), {
    "wireless_link_quality{interface=wlan0}": 54,
    "wireless_signal_dbm{interface=wlan0}": -56,
  });
});

test("temperatures from thermal zones and hwmon, millidegrees to °C", () => {
  assert.deepEqual(table(temperatureCollector().collect(ctx())), {
    "temperature_celsius{sensor=cpu-thermal}": 48.312,
    "temperature_celsius{sensor=acpitz}": 27.8,
    "temperature_celsius{sensor=coretemp Package id 0}": 52,
    "temperature_celsius{sensor=coretemp Core 0}": 49.5,
    "temperature_celsius{sensor=nvme temp1}": 38.85,
  });
});

test("every power_supply entry of type Battery, whatever its name; power_now wins over V×A", () => {
  assert.deepEqual(table(batteryCollector().collect(ctx())), {
    "battery_capacity_percent{battery=BAT0}": 87,
    "battery_status{battery=BAT0}": 2,
    "battery_voltage_volts{battery=BAT0}": 12.6,
    "battery_current_amps{battery=BAT0}": 1.25,
    "battery_power_watts{battery=BAT0}": 15.75,
    "battery_capacity_percent{battery=axp20x-battery}": 64,
    "battery_status{battery=axp20x-battery}": 1,
    "battery_voltage_volts{battery=axp20x-battery}": 3.987,
    "battery_current_amps{battery=axp20x-battery}": 0.512,
    "battery_power_watts{battery=axp20x-battery}": 2.1,
  });
});

test("a collector whose files are missing is logged once and skipped; the others still run", () => {
  const empty = mkdtempSync(join(tmpdir(), "tether-sys-"));
  try {
    const { log, lines } = captureLog();
    const runner = new CollectorRunner(systemCollectors(), log);
    const c = ctx({ sysRoot: empty });
    const first = table(runner.run(c));
    runner.run(c);
    assert.equal(first.load1, 0.52, "the /proc collectors still ran");
    assert.equal(first.memory_used_percent, 25);
    assert.ok(!Object.keys(first).some((k) => k.startsWith("battery_") || k.startsWith("temperature_")));
    assert.deepEqual(runner.skipped.sort(), ["battery", "temperature"]);
    const logged = lines.filter((l) => l.collector === "battery");
    assert.equal(logged.length, 1, "logged once, not every interval");
    assert.match(logged[0]!.msg, /battery not available/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});
