/**
 * The benchmark's "recorded" device data (npm run bench:telemetry): a deterministic model of
 * what one robot's agent reports every collection interval, 500 series by default, with the
 * shapes and precision real collectors produce (docs/protocol.md §14):
 *   cpu % at jiffy precision (total and per core), load averages to 2 decimals, memory and
 *   swap in whole pages, disk usage per mount (used grows, a log rotation frees it), disk
 *   I/O and network byte/packet/error counters (bursty, integer increments), wireless signal
 *   in dBm, temperatures in millidegrees (3 decimals, as sysfs gives them), a battery that
 *   drains and recharges (capacity, status, voltage, current, power), uptime, process count,
 *   the agent's own health, and application metrics (ROS-style topic rates and message
 *   counters, motor currents and temperatures, joint positions, queue depths, flags).
 * Same device index and seed → the same values, in every process (uploader, raw anchor,
 * storage simulation), so each row measures the same samples.
 */

export interface SeriesDef {
  name: string;
  labels: Record<string, string>;
  kind: "gauge" | "counter";
}

/** One series' next value, one call per collection interval. */
type Step = () => number;

/** mulberry32: small, fast, good enough for plausible noise; deterministic per seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Rounds to `dec` decimals so that the JSON text is as short as a collector's (no 0.30000000000000004). */
const round = (x: number, dec: number) => {
  const f = 10 ** dec;
  return Math.round(x * f) / f;
};
const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

export const DEFAULT_SERIES = 500;

/**
 * A device's model: `series` lists what it reports; `next(out)` fills `out` with the values of
 * the next interval (interval 0 first). Each device differs (cores, disks, interfaces, load).
 */
export class DeviceModel {
  readonly series: SeriesDef[] = [];
  private readonly steps: Step[] = [];
  private readonly r: () => number;

  constructor(
    readonly index: number,
    count = DEFAULT_SERIES,
    seed = 11,
    readonly intervalS = 10,
  ) {
    this.r = rng((seed * 1_000_003 + index * 7919) | 0);
    this.build(count);
  }

  next(out: Float64Array | number[]): void {
    for (let i = 0; i < this.steps.length; i++) out[i] = this.steps[i]!();
  }

  private add(name: string, labels: Record<string, string>, step: Step, kind?: "gauge" | "counter"): void {
    if (this.series.length >= this.cap) return;
    this.series.push({ name, labels, kind: kind ?? (name.endsWith("_total") ? "counter" : "gauge") });
    this.steps.push(step);
  }

  private cap = DEFAULT_SERIES;

  /** Gaussian-ish noise (sum of uniforms), mean 0, sd ≈ 1. */
  private noise(): number {
    const r = this.r;
    return (r() + r() + r() + r() - 2) * 1.7;
  }

  /** Mean-reverting random walk (Ornstein–Uhlenbeck) in [lo, hi], rounded to `dec` decimals. */
  private walk(mean: number, sd: number, lo: number, hi: number, dec: number, revert = 0.05): Step {
    let x = mean + sd * this.noise();
    return () => {
      x = clamp(x + revert * (mean - x) + sd * this.noise() * Math.sqrt(2 * revert), lo, hi);
      return round(x, dec);
    };
  }

  /** A counter increasing by ~`rate` per interval (bursty, whole units); occasionally idle. */
  private counter(rate: number, start = 0, idle = 0.05): Step {
    let v = Math.floor(start);
    let burst = 1;
    return () => {
      if (this.r() < 0.02) burst = 1 + this.r() * 8;
      else if (this.r() < 0.1) burst = 1;
      if (this.r() >= idle) v += Math.max(0, Math.round(rate * burst * (0.6 + 0.8 * this.r())));
      return v;
    };
  }

  /** A counter of a fixed-rate source (a timer, a publisher): ~`rate` per interval, ±1, rarely a hiccup. */
  private regular(rate: number, start = 0): Step {
    let v = Math.floor(start);
    return () => {
      const x = this.r();
      v += x < 0.01 ? Math.round(rate * this.r()) : rate + (x < 0.2 ? -1 : x > 0.8 ? 1 : 0);
      return v;
    };
  }

  private build(count: number): void {
    this.cap = count;
    const r = this.r;
    const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
    const load = 0.15 + r() * 0.6; // this device's typical CPU load
    const cores = pick([4, 4, 6, 8]);
    const dt = this.intervalS;

    // CPU: per core jiffies over the interval (100 Hz × interval) → 0.1 % steps; total to 2 decimals.
    const core: number[] = new Array(cores).fill(0);
    const coreWalks = core.map(() => this.walk(load * 100, 12, 0, 100, 1, 0.2));
    let coreTick = -1;
    let tick = 0;
    const coreNow = () => {
      if (coreTick !== tick) {
        for (let i = 0; i < cores; i++) core[i] = coreWalks[i]!();
        coreTick = tick;
      }
      return core;
    };
    this.add("cpu_usage_percent", {}, () => {
      tick++;
      const c = coreNow();
      return round(c.reduce((a, b) => a + b, 0) / cores, 2);
    });
    for (let i = 0; i < cores; i++)
      this.add("cpu_core_usage_percent", { cpu: String(i) }, () => coreNow()[i]!);
    let l1 = load * cores;
    let l5 = l1;
    let l15 = l1;
    this.add("load1", {}, () => {
      l1 = Math.max(0, l1 + 0.3 * (coreNow().reduce((a, b) => a + b, 0) / 100 - l1) + 0.2 * this.noise());
      return round(l1, 2);
    });
    this.add("load5", {}, () => {
      l5 += (l1 - l5) * 0.03;
      return round(l5, 2);
    });
    this.add("load15", {}, () => {
      l15 += (l1 - l15) * 0.011;
      return round(l15, 2);
    });

    // Memory: whole 4 KiB pages; used drifts, a leak in the app slowly grows it.
    const memTotal = pick([4, 8, 8, 16]) * 1024 ** 3 - 180 * 1024 ** 2;
    let used = memTotal * (0.25 + r() * 0.3);
    const page = 4096;
    const usedNow = () => Math.floor(used / page) * page;
    this.add("memory_total_bytes", {}, () => memTotal);
    this.add("memory_available_bytes", {}, () => {
      used = clamp(used + 2 * page + 200 * page * this.noise(), memTotal * 0.1, memTotal * 0.95);
      return memTotal - usedNow();
    });
    this.add("memory_used_bytes", {}, usedNow);
    this.add("memory_used_percent", {}, () => round((usedNow() / memTotal) * 100, 2));
    const swapTotal = pick([0, 2 * 1024 ** 3]);
    let swapUsed = swapTotal ? 64 * page : 0;
    this.add("swap_total_bytes", {}, () => swapTotal);
    this.add("swap_used_bytes", {}, () => {
      if (swapTotal && r() < 0.01)
        swapUsed = clamp(swapUsed + page * Math.round(50 * this.noise()), 0, swapTotal);
      return swapUsed;
    });

    // Disks: used grows with logs and bags, a rotation frees it; I/O counters per block device.
    const mounts = ["/", "/boot", "/data", "/var/log"].slice(0, 2 + Math.floor(r() * 3));
    for (const mount of mounts) {
      const total = (mount === "/boot" ? 0.5 : pick([32, 64, 128, 256])) * 1024 ** 3;
      let du = total * (0.2 + r() * 0.5);
      const growth = mount === "/boot" ? 0 : 4096 * (1 + r() * 60);
      const duNow = () => Math.floor(du / 4096) * 4096;
      this.add("disk_total_bytes", { mount }, () => total);
      this.add("disk_used_bytes", { mount }, () => {
        du += growth * (0.5 + r());
        if (du > total * 0.9 || r() < 0.0005) du = total * (0.2 + r() * 0.2); // rotation, cleanup
        return duNow();
      });
      this.add("disk_used_percent", { mount }, () => round((duNow() / total) * 100, 2));
    }
    for (const device of ["mmcblk0", "nvme0n1", "sda"].slice(0, 1 + Math.floor(r() * 3))) {
      const ops = 2 + r() * 40;
      this.add("disk_read_bytes_total", { disk: device }, this.counter(ops * 4096 * 2 * dt, r() * 1e10));
      this.add("disk_written_bytes_total", { disk: device }, this.counter(ops * 4096 * 6 * dt, r() * 1e10));
      this.add("disk_reads_total", { disk: device }, this.counter(ops * dt * 0.5, r() * 1e6));
      this.add("disk_writes_total", { disk: device }, this.counter(ops * dt, r() * 1e6));
    }

    // Network: per interface counters; wlan0 has signal and link quality.
    const ifaces = ["eth0", "wlan0", "lo", "can0", "docker0"].slice(0, 3 + Math.floor(r() * 3));
    for (const iface of ifaces) {
      const bps = iface === "lo" ? 20_000 : iface === "can0" ? 8_000 : 50_000 + r() * 2e6;
      const labels = { interface: iface };
      this.add("net_rx_bytes_total", labels, this.counter(bps * dt, r() * 1e11));
      this.add("net_tx_bytes_total", labels, this.counter(bps * 0.4 * dt, r() * 1e11));
      this.add("net_rx_packets_total", labels, this.counter((bps / 700) * dt, r() * 1e8));
      this.add("net_tx_packets_total", labels, this.counter((bps / 900) * dt, r() * 1e8));
      this.add("net_rx_errors_total", labels, this.counter(0.02, 0, 0.97));
      this.add("net_tx_errors_total", labels, this.counter(0.01, 0, 0.98));
      if (iface === "wlan0") {
        this.add("wireless_signal_dbm", labels, this.walk(-58 - r() * 15, 4, -95, -30, 0, 0.1));
        this.add("wireless_link_quality", labels, this.walk(55, 6, 0, 70, 0, 0.1));
      }
    }

    // Temperatures: sysfs gives millidegrees → 3 decimals, in steps of the sensor's resolution.
    const sensors = ["cpu_thermal", "gpu_thermal", "soc", "nvme", "board", "motor_driver", "battery"];
    for (const sensor of sensors.slice(0, 4 + Math.floor(r() * 4))) {
      const w = this.walk(38 + r() * 25 + load * 15, 1.5, 20, 95, 3, 0.08);
      const res = pick([1, 1, 25, 125]); // millidegree resolution (some sensors step by 0.125 °C)
      this.add(
        "temperature_celsius",
        { sensor },
        () => round(Math.round((w() * 1000) / res) * res, 0) / 1000,
      );
    }

    // Battery: drains over a few hours, then charges on the dock.
    const battery = { battery: "BAT0" };
    let cap = 40 + r() * 60;
    let charging = false;
    const drain = (0.02 + r() * 0.04) * (dt / 10); // % per interval
    const state = () => {
      if (!charging && cap <= 15) charging = true;
      if (charging && cap >= 100) charging = false;
      return charging;
    };
    this.add("battery_capacity_percent", battery, () => {
      cap = clamp(cap + (state() ? drain * 3 : -drain * (0.5 + r())), 0, 100);
      return Math.floor(cap);
    });
    this.add("battery_status", battery, () => (charging ? (cap >= 100 ? 4 : 1) : 2));
    this.add("battery_voltage_volts", battery, () => round(22.2 + cap * 0.042 + 0.02 * this.noise(), 3));
    const amps = this.walk(2.4 + r() * 2, 0.35, 0.1, 12, 3, 0.3);
    this.add("battery_current_amps", battery, () =>
      charging ? round(3.2 + 0.05 * this.noise(), 3) : amps(),
    );
    this.add("battery_power_watts", battery, () =>
      round((22.2 + cap * 0.042) * (charging ? 3.2 : amps()), 2),
    );

    let uptime = Math.floor(r() * 5e5);
    this.add("uptime_seconds", {}, () => {
      uptime += dt + (r() - 0.5) * 0.02;
      return round(uptime, 2);
    });
    this.add("processes", {}, this.walk(180 + r() * 100, 4, 50, 1000, 0, 0.1));
    let rss = 38e6 + r() * 6e6;
    this.add("agent_rss_bytes", {}, () => {
      rss = clamp(rss + 4096 * this.noise() * 8, 30e6, 70e6);
      return Math.floor(rss);
    });
    let agentCpu = r() * 100;
    this.add("agent_cpu_seconds_total", {}, () => {
      agentCpu += 0.02 + 0.01 * r();
      return round(agentCpu, 2);
    });
    let buf = 0;
    this.add("agent_buffer_bytes", {}, () => {
      buf = r() < 0.97 ? 0 : Math.floor(r() * 4e5);
      return buf;
    });
    this.add("agent_buffer_used_percent", {}, () => round((buf / (64 * 1024 ** 2)) * 100, 3));
    this.add("agent_last_upload_age_seconds", {}, () => round(r() * dt, 3));
    this.add("agent_dropped_samples_total", { reason: "buffer-full" }, () => 0);

    this.addApplication(count);
  }

  /** Application metrics (StatsD, line protocol, a ROS exporter) up to `count` series. */
  private addApplication(count: number): void {
    const r = this.r;
    const topics = ["/scan", "/odom", "/imu", "/tf", "/cmd_vel", "/camera/image", "/map", "/diagnostics"];
    const nodes = ["planner", "controller", "localization", "perception", "mapper", "driver", "bridge"];
    const joints = ["wheel_left", "wheel_right", "lift", "arm_1", "arm_2", "arm_3", "gripper"];
    let n = 0;
    while (this.series.length < count) {
      const kind = n % 10;
      const k = Math.floor(n / 10);
      const topic = `${topics[k % topics.length]}${k >= topics.length ? `_${Math.floor(k / topics.length)}` : ""}`;
      const node = nodes[k % nodes.length]!;
      const joint = `${joints[k % joints.length]}${k >= joints.length ? `_${Math.floor(k / joints.length)}` : ""}`;
      switch (kind) {
        case 0: {
          const hz = [10, 20, 30, 50, 100][k % 5]!;
          // A fixed-rate publisher, measured over the interval: close to its nominal rate.
          this.add("ros_topic_rate_hz", { topic }, this.walk(hz, hz * 0.002, 0, hz * 2, 2, 0.5));
          break;
        }
        case 1: {
          const hz = [10, 20, 30, 50, 100][k % 5]!;
          this.add("ros_messages_published_total", { topic }, this.regular(hz * this.intervalS, r() * 1e7));
          break;
        }
        case 2:
          this.add("motor_current_amps", { motor: joint }, this.walk(1.2 + r() * 3, 0.25, 0, 20, 3, 0.3));
          break;
        case 3:
          this.add(
            "motor_temperature_celsius",
            { motor: joint },
            this.walk(40 + r() * 20, 0.6, 15, 110, 1, 0.05),
          );
          break;
        case 4:
          this.add("joint_position_radians", { joint }, this.walk(0, 0.4, -Math.PI, Math.PI, 4, 0.2));
          break;
        case 5:
          this.add("queue_depth", { node }, () => (r() < 0.8 ? 0 : Math.floor(r() * 12)));
          break;
        case 6:
          this.add(
            "node_callbacks_total",
            { node, group: String(k) },
            this.regular(Math.round(50 + r() * 400), r() * 1e8),
          );
          break;
        case 7:
          this.add(
            "node_cycle_seconds",
            { node, quantile: ["0.5", "0.9", "0.99"][k % 3]! },
            this.walk(0.004 + r() * 0.02, 0.001, 0.0001, 1, 6, 0.4),
          );
          break;
        case 8: {
          const v = r() < 0.5 ? 1 : 0;
          this.add("node_up", { node, worker: String(k) }, () => (r() < 0.0005 ? 1 - v : v));
          break;
        }
        default:
          this.add(
            "nav_localization_error_meters",
            { source: String(k) },
            this.walk(0.05, 0.02, 0, 5, 3, 0.3),
          );
      }
      n++;
    }
  }
}

/** The wire form of one interval of one device: every series with one point at `t`. */
export function intervalSeries(
  model: DeviceModel,
  values: ArrayLike<number>,
  t: number,
): { name: string; labels: Record<string, string>; kind: "gauge" | "counter"; points: [number, number][] }[] {
  return model.series.map((s, i) => ({
    name: s.name,
    labels: s.labels,
    kind: s.kind,
    points: [[t, values[i]!]],
  }));
}
