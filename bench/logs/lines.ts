/**
 * The benchmark's "recorded" device logs (npm run bench:logs): deterministic lines of 100–200
 * bytes in the shapes robots write (component tags, numbers, ids, paths, a JSON line now and
 * then, upper-case levels), with a mix of words from a vocabulary and, about one line in a
 * thousand, a rare word (an incident: brownout, watchdog, …). Same arguments → the same lines,
 * in every process (uploader, raw anchor), so each side of a row stores the same lines.
 *
 * The search row's fill (fillLine) adds two terms the vocabulary never holds, at fixed
 * frequencies: RARE_TERM in 1 line of 10⁶ and COMMON_TERM in 1 line of 100.
 */
import { type LogLineWire, levelFromText } from "@tether/protocol";
import { rng } from "../telemetry/generator.js";

/** In exactly the lines i ≡ 777,777 (mod 10⁶) of the fill: 1 line in 10⁶. */
export const RARE_TERM = "xylophone";
export const RARE_EVERY = 1_000_000;
/** In the lines i ≡ 37 (mod 100) of the fill: 1 line in 100. */
export const COMMON_TERM = "backpressure";
export const COMMON_EVERY = 100;

const WORDS = (
  "ok done retry queued started stopped pending active idle nominal degraded ready busy " +
  "update request response session client server handler worker thread process task job " +
  "sensor lidar camera imu gps odometry wheel motor joint gripper arm base dock charger " +
  "battery voltage current power thermal fan pressure speed velocity heading pose map " +
  "route path waypoint goal obstacle costmap planner controller localization estimate " +
  "frame topic message publisher subscriber service action timer clock sync offset drift " +
  "network wifi link packet latency bandwidth socket connection reconnect handshake " +
  "config parameter reload apply version firmware checksum image partition disk mount " +
  "file buffer cache memory heap queue depth backlog flush write read open close " +
  "mission step phase state transition event trigger signal interrupt exit status code " +
  "user operator remote local manual auto mode safe limit threshold warning fault recovered"
).split(" ");
const RARE = [
  "brownout",
  "watchdog",
  "segfault",
  "deadlock",
  "overcurrent",
  "desync",
  "estop",
  "kernelpanic",
  "bitflip",
  "stalled",
];
const SOURCES = [
  "/var/log/robot/nav.log",
  "/var/log/robot/motors.log",
  "/var/log/robot/perception.log",
  "/var/log/robot/mission.log",
];
const COMPONENTS = ["nav", "motor", "camera", "lidar", "battery", "net", "mission", "ros", "dock", "agent"];

type R = () => number;
const int = (r: R, n: number) => Math.floor(r() * n);
const pick = <T>(r: R, a: readonly T[]) => a[int(r, a.length)]!;
const hex = (r: R, n: number) => {
  let s = "";
  for (let i = 0; i < n; i++) s += "0123456789abcdef"[int(r, 16)];
  return s;
};
const words = (r: R, n: number) => {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(pick(r, WORDS));
  return out.join(" ");
};

/** One line's text (without a timestamp: the agent sends its own time). */
function message(r: R): string {
  const lvl = r();
  const tag = lvl < 0.01 ? "ERROR " : lvl < 0.06 ? "WARN " : lvl < 0.16 ? "DEBUG " : "INFO ";
  const c = pick(r, COMPONENTS);
  let body: string;
  switch (int(r, 7)) {
    case 0:
      body = `planner replanned route to waypoint ${int(r, 400)} in ${int(r, 900)} ms obstacles=${int(r, 12)} cost=${(r() * 100).toFixed(2)}`;
      break;
    case 1:
      body = `joint ${int(r, 7)} current ${(r() * 12).toFixed(3)} A temperature ${(30 + r() * 40).toFixed(1)} C within limits`;
      break;
    case 2:
      body = `pack voltage ${(22 + r() * 6).toFixed(2)} V charge ${int(r, 100)}% remaining estimate ${int(r, 300)} min`;
      break;
    case 3:
      body = `frame ${int(r, 1e7)} dropped: usb transfer timeout after ${int(r, 500)} ms on /dev/video${int(r, 4)}`;
      break;
    case 4:
      body = `wifi roam to ${hex(r, 2)}:${hex(r, 2)}:${hex(r, 2)}:${hex(r, 2)} rssi -${40 + int(r, 50)} dBm latency ${int(r, 300)} ms`;
      break;
    case 5:
      return `{"level":"${tag.trim().toLowerCase()}","component":"${c}","msg":"${words(r, 4)}","mission":"${hex(r, 12)}","elapsed_ms":${int(r, 1e5)}}`;
    default:
      body = `topic /${c}/state rate ${(r() * 50).toFixed(1)} Hz subscribers ${int(r, 9)} queue ${int(r, 1000)}`;
  }
  const extra = words(r, 4 + int(r, 8));
  const rare = r() < 0.001 ? ` ${pick(r, RARE)}` : "";
  return `${tag}[${c}] ${body} ${extra}${rare} req=${hex(r, 8)}`;
}

/** A word unique to one batch of one device (in its last line): the ingest row's "searchable" probe. */
export function batchMarker(device: number, batch: number): string {
  return `mk${device.toString(36)}x${batch.toString(36)}q`;
}

/**
 * Batch `batch` (0-based) of device `device`: `n` lines as the agent sends them, device times
 * spread over the `intervalMs` that ends at `endAt`; the last line carries batchMarker().
 */
export function deviceLines(
  device: number,
  batch: number,
  n: number,
  endAt: number,
  intervalMs: number,
): LogLineWire[] {
  const r = rng((device * 7919 + batch * 104_729 + 17) >>> 0);
  const src = SOURCES[device % SOURCES.length]!;
  const out: LogLineWire[] = [];
  for (let i = 0; i < n; i++) {
    let msg = message(r);
    if (i === n - 1) msg += ` marker ${batchMarker(device, batch)}`;
    const l: LogLineWire = { t: endAt - intervalMs + Math.round(((i + 1) * intervalMs) / n), src, msg };
    const lvl = levelFromText(msg);
    if (lvl) l.lvl = lvl;
    out.push(l);
  }
  return out;
}

/** Line `i` of the search row's fill (its time `t` is the caller's). */
export function fillLine(i: number): LogLineWire {
  const r = rng((i * 2_654_435_761) >>> 0);
  let msg = message(r);
  if (i % COMMON_EVERY === 37) msg += ` ${COMMON_TERM} on ${pick(r, COMPONENTS)} queue`;
  if (i % RARE_EVERY === 777_777) msg += ` ${RARE_TERM} incident`;
  const l: LogLineWire = { t: 0, src: SOURCES[i % SOURCES.length]!, msg };
  const lvl = levelFromText(msg);
  if (lvl) l.lvl = lvl;
  return l;
}
