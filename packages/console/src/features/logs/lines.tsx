/**
 * How a log line reads in the console, shared by the device's live tail and the fleet search:
 * time, level (coloured: error red, warn amber, debug grey), source (the file's name, its path
 * in the tooltip), the text; a gap line as a banner of its own ("1,204 lines dropped from
 * app.log between 10:02:11 and 10:05:40 (rate limit)").
 */
import { LOG_LEVELS } from "@tether/protocol/logs";
import type { ReactNode } from "react";
import type { LogLevel, LogLine } from "./api";

export const LEVEL_CHOICES: readonly LogLevel[] = LOG_LEVELS;

/** "/var/log/robot/app.log" → "app.log"; `journal`, `agent` and unit names as they are. */
export function sourceName(source: string): string {
  const i = source.lastIndexOf("/");
  return i >= 0 && i < source.length - 1 ? source.slice(i + 1) : source;
}

const p2 = (n: number) => String(n).padStart(2, "0");

/** "10:02:11" today, "2026-11-30 10:02:11" on another day (local time). */
export function lineTime(t: number, now = Date.now()): string {
  const d = new Date(t);
  const hms = `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
  const today = new Date(now);
  return d.toDateString() === today.toDateString()
    ? hms
    : `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${hms}`;
}

const REASONS: Record<string, string> = {
  "buffer-full": "the device's buffer was full",
  "disk-full": "the device's disk was full",
  "rate-limit": "rate limit",
  rejected: "rejected by the server",
};

/** "1,204 lines dropped from app.log between 10:02:11 and 10:05:40 (rate limit)". */
export function gapSentence(l: LogLine, now = Date.now()): string {
  if (!l.gap) return l.message;
  const { count, from, to, reason } = l.gap;
  const what = `${count.toLocaleString("en-US")} ${count === 1 ? "line" : "lines"} dropped`;
  const src = l.source ? ` from ${sourceName(l.source)}` : "";
  const a = lineTime(from, now);
  const b = lineTime(to, now);
  const when = a === b ? ` at ${a}` : ` between ${a} and ${b}`;
  const why = REASONS[reason] ?? reason.replace(/-/g, " ");
  return `${what}${src}${when}${why ? ` (${why})` : ""}`;
}

function lineTitle(l: LogLine): string {
  const parts = [
    `Time ${new Date(l.time).toLocaleString()}`,
    `device clock ${new Date(l.deviceTime).toLocaleString()}`,
    `received ${new Date(l.receivedAt).toLocaleString()}`,
  ];
  if (l.unit) parts.push(`unit ${l.unit}`);
  return parts.join(" · ");
}

/**
 * One line as a row of the log view (a CSS grid: time, level, [device], source, text). A gap
 * line spans the row as a banner.
 */
export function LogRow({
  line,
  now,
  device,
}: {
  line: LogLine;
  now: number;
  /** The device's name, linking to its page (fleet views). */
  device?: ReactNode;
}) {
  if (line.kind === "gap")
    return (
      <div className="log-row log-gap" data-kind="gap" data-id={line.id} title={lineTitle(line)}>
        <span className="log-gap-icon" aria-hidden="true">
          ⚠
        </span>
        {device && <span className="log-device">{device}</span>}
        <span className="log-gap-text">{gapSentence(line, now)}</span>
      </div>
    );
  const level = line.level ?? "none";
  return (
    <div
      className={`log-row log-level-${level}`}
      data-kind="line"
      data-id={line.id}
      data-level={line.level ?? undefined}
    >
      <time className="log-time" dateTime={new Date(line.time).toISOString()} title={lineTitle(line)}>
        {lineTime(line.time, now)}
      </time>
      <span className="log-level">{line.level ?? ""}</span>
      {device && <span className="log-device">{device}</span>}
      <span className="log-source" title={line.unit ? `${line.source} (${line.unit})` : line.source}>
        {line.unit ?? sourceName(line.source)}
      </span>
      <span className="log-msg">{line.message}</span>
    </div>
  );
}

/** A row the console adds itself (the stream fell behind, the connection was lost). */
export function MarkerRow({ kind, children }: { kind: string; children: ReactNode }) {
  return (
    <div className={`log-row log-marker log-marker-${kind}`} data-kind={kind}>
      <span className="log-gap-icon" aria-hidden="true">
        ⋯
      </span>
      <span className="log-gap-text">{children}</span>
    </div>
  );
}
