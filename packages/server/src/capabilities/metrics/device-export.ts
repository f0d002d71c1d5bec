/**
 * `GET /api/v1/metrics/prometheus` (docs/protocol.md §14.5): the newest sample of every
 * series of the project, labelled `device` (name), `device_id` and `project` before the
 * series' own labels, so that an existing Prometheus or Grafana can scrape Tether.
 */
import type { ExpoFamily } from "./prometheus.js";
import { labelName } from "./prometheus.js";
import type { LatestSample } from "./store/types.js";

/** Help of the system metrics agents collect (docs/protocol.md §14.4); others get a generic line. */
const HELP: Record<string, string> = {
  cpu_usage_percent: "CPU time in use, all cores, percent",
  cpu_core_usage_percent: "CPU time in use per core, percent",
  load1: "Load average over 1 minute",
  load5: "Load average over 5 minutes",
  load15: "Load average over 15 minutes",
  memory_total_bytes: "Physical memory",
  memory_available_bytes: "Memory available to new processes",
  memory_used_bytes: "Memory in use",
  memory_used_percent: "Memory in use, percent",
  swap_total_bytes: "Swap space",
  swap_used_bytes: "Swap in use",
  disk_total_bytes: "Size of the file system per mount",
  disk_used_bytes: "Space used per mount",
  disk_used_percent: "Space used per mount, percent",
  disk_read_bytes_total: "Bytes read per block device",
  disk_written_bytes_total: "Bytes written per block device",
  disk_reads_total: "Reads completed per block device",
  disk_writes_total: "Writes completed per block device",
  net_rx_bytes_total: "Bytes received per interface",
  net_tx_bytes_total: "Bytes sent per interface",
  net_rx_packets_total: "Packets received per interface",
  net_tx_packets_total: "Packets sent per interface",
  net_rx_errors_total: "Receive errors per interface",
  net_tx_errors_total: "Send errors per interface",
  wireless_signal_dbm: "Wireless signal level, dBm",
  wireless_link_quality: "Wireless link quality",
  temperature_celsius: "Temperature per sensor, degrees Celsius",
  battery_capacity_percent: "Battery charge, percent",
  battery_voltage_volts: "Battery voltage",
  battery_current_amps: "Battery current",
  battery_power_watts: "Battery power",
  battery_status: "Battery status: 0 unknown, 1 charging, 2 discharging, 3 not charging, 4 full",
  uptime_seconds: "Time since the device booted",
  processes: "Processes running",
  agent_rss_bytes: "Resident memory of the Tether agent",
  agent_cpu_seconds_total: "CPU time used by the Tether agent",
  agent_buffer_bytes: "Bytes in the agent's telemetry buffer",
  agent_buffer_used_percent: "Fill of the agent's telemetry buffer, percent",
  agent_last_upload_age_seconds: "Time since the agent's last accepted upload",
  agent_dropped_samples_total: "Samples the agent dropped, by reason",
};

export function helpOf(name: string): string {
  return HELP[name] ?? `${name} as reported by Tether devices`;
}

const SERVER_LABELS = new Set(["device", "device_id", "project"]);

/** The series' own labels after the server's, renamed `exported_…` where they would clash. */
export function seriesLabels(
  device: { id: string; name: string },
  project: string,
  own: Record<string, string>,
): [string, string][] {
  const out: [string, string][] = [
    ["device", device.name],
    ["device_id", device.id],
    ["project", project],
  ];
  for (const k of Object.keys(own).sort()) {
    const n = labelName(k);
    out.push([SERVER_LABELS.has(n) ? `exported_${n}` : n, own[k]!]);
  }
  return out;
}

/** One family per metric name: a counter when every series of it is one, else a gauge. */
export function deviceFamilies(
  latest: LatestSample[],
  devices: Map<string, { id: string; name: string }>,
  project: string,
): ExpoFamily[] {
  const byName = new Map<string, ExpoFamily>();
  for (const s of latest) {
    const d = devices.get(s.deviceId);
    if (!d) continue;
    let f = byName.get(s.name);
    if (!f) {
      f = { name: s.name, help: helpOf(s.name), type: s.kind, samples: [] };
      byName.set(s.name, f);
    } else if (s.kind !== "counter") f.type = "gauge";
    f.samples.push({ labels: seriesLabels(d, project, s.labels), value: s.value, ts: s.at });
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
