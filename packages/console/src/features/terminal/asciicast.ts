/**
 * asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/), the format sessions are
 * recorded in (docs/protocol.md §17.7): a header line (JSON object with width and height),
 * then one event per line, `[seconds, code, data]`: "o" output, "r" resize ("COLSxROWS"),
 * "i" input and "m" markers (not played). Recordings come from devices, so every field is
 * checked and a bad line is skipped, not trusted.
 */

export interface CastEvent {
  /** Seconds from the start, on the playback timeline (idle gaps shortened). */
  t: number;
  kind: "o" | "r";
  /** Output text, or the new size for "r". */
  data: string;
  cols?: number;
  rows?: number;
}

export interface Cast {
  width: number;
  height: number;
  /** Seconds, on the playback timeline. */
  duration: number;
  /** Seconds as recorded (before idle gaps were shortened). */
  recordedDuration: number;
  events: CastEvent[];
  /** Lines that were not events we understand (skipped). */
  skipped: number;
  /** How many idle gaps were shortened. */
  idleGaps: number;
}

/** Pauses longer than this are skipped in playback… */
export const IDLE_LIMIT_S = 2;
/** …down to this short beat, so the viewer still sees that time passed. */
export const IDLE_BEAT_S = 0.5;

const MAX_SIZE = 1000;
const size = (v: unknown, fallback: number): number =>
  typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= MAX_SIZE ? v : fallback;

/** Parse a recording; throws an Error whose message is a sentence when the header is not asciicast v2. */
export function parseCast(text: string, o: { skipIdle?: boolean } = {}): Cast {
  const skipIdle = o.skipIdle ?? true;
  const lines = text.split("\n");
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(lines[0] ?? "");
  } catch {
    throw new Error("The recording is not in asciicast format (its first line is not a header).");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header) || header.version !== 2)
    throw new Error("The recording is not asciicast version 2.");
  const width = size(header.width, 80);
  const height = size(header.height, 24);
  const events: CastEvent[] = [];
  let skipped = 0;
  let idleGaps = 0;
  let lastRaw = 0;
  let shift = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (!line.trim()) continue;
    let e: unknown;
    try {
      e = JSON.parse(line);
    } catch {
      skipped++;
      continue;
    }
    if (!Array.isArray(e) || e.length < 3 || typeof e[0] !== "number" || !Number.isFinite(e[0])) {
      skipped++;
      continue;
    }
    const [raw, code, data] = e as [number, unknown, unknown];
    if (typeof data !== "string") {
      skipped++;
      continue;
    }
    let ev: Omit<CastEvent, "t"> | null = null;
    if (code === "o") ev = { kind: "o", data };
    else if (code === "r") {
      const m = /^(\d{1,5})x(\d{1,5})$/.exec(data);
      if (!m) {
        skipped++;
        continue;
      }
      ev = { kind: "r", data, cols: size(Number(m[1]), width), rows: size(Number(m[2]), height) };
    }
    // Time never runs backwards on the timeline, whatever the file says.
    const at = Math.max(raw, lastRaw);
    const gap = at - lastRaw;
    if (skipIdle && gap > IDLE_LIMIT_S) {
      shift += gap - IDLE_BEAT_S;
      idleGaps++;
    }
    lastRaw = at;
    if (ev) events.push({ t: at - shift, ...ev });
    // "i" (input) and "m" (markers) are not played.
  }
  return {
    width,
    height,
    duration: lastRaw - shift,
    recordedDuration: lastRaw,
    events,
    skipped,
    idleGaps,
  };
}

/** Index of the first event after `t` (events are in time order). */
export function eventsUntil(events: readonly CastEvent[], t: number, from = 0): number {
  let i = from;
  while (i < events.length && events[i].t <= t) i++;
  return i;
}

/** "0:07", "12:03", "1:02:03". */
export function fmtPlayTime(s: number): string {
  const total = Math.max(0, Math.floor(s));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}
