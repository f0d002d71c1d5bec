/** Network counters per interface (/proc/net/dev, lo skipped) and wireless signal (/proc/net/wireless). */
import { counter, gauge, type Sample } from "../sample.js";
import { type Collector, readUnder } from "./collector.js";

export function networkCollector(): Collector {
  return {
    name: "network",
    collect({ procRoot }) {
      const out: Sample[] = [];
      for (const line of readUnder(procRoot, "net", "dev").split("\n")) {
        const colon = line.indexOf(":");
        if (colon < 0) continue;
        const iface = line.slice(0, colon).trim();
        if (!iface || iface === "lo" || iface.includes("|")) continue;
        const f = line
          .slice(colon + 1)
          .trim()
          .split(/\s+/)
          .map(Number);
        if (f.length < 16 || f.some((x) => !Number.isFinite(x))) continue;
        const labels = { interface: iface };
        // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit.
        out.push(counter("net_rx_bytes_total", f[0]!, labels));
        out.push(counter("net_rx_packets_total", f[1]!, labels));
        out.push(counter("net_rx_errors_total", f[2]!, labels));
        out.push(counter("net_tx_bytes_total", f[8]!, labels));
        out.push(counter("net_tx_packets_total", f[9]!, labels));
        out.push(counter("net_tx_errors_total", f[10]!, labels));
      }
      return out;
    },
  };
}

export function wirelessCollector(): Collector {
  return {
    name: "wireless",
    collect({ procRoot }) {
      const out: Sample[] = [];
      // Two header lines, then `wlan0: 0000   54.  -56.  -256  ...` (status, link, level, noise).
      for (const line of readUnder(procRoot, "net", "wireless").split("\n").slice(2)) {
        const colon = line.indexOf(":");
        if (colon < 0) continue;
        const iface = line.slice(0, colon).trim();
        const f = line
          .slice(colon + 1)
          .trim()
          .split(/\s+/);
        const link = Number.parseFloat(f[1] ?? "");
        let level = Number.parseFloat(f[2] ?? "");
        if (!iface || !Number.isFinite(link)) continue;
        const labels = { interface: iface };
        out.push(gauge("wireless_link_quality", link, labels));
        // Old drivers report dBm as an unsigned byte (200 means -56), as iwconfig reads it.
        if (level >= 64) level -= 256;
        if (Number.isFinite(level) && level < 0) out.push(gauge("wireless_signal_dbm", level, labels));
      }
      return out;
    },
  };
}
