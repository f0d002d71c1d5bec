/**
 * The agent's own log as a source (`agent`): agent.ts wraps its pino logger with `tap.wrap(log)`
 * so every record it writes (as pino JSON, before any text formatting) also reaches the logs
 * runtime. Records written before the runtime starts wait in a small bounded queue. The
 * records the logs runtime itself writes while handling a record are not fed back (no loop).
 */
import { LOG_LIMITS, type LogLevel, type LogLineWire, PINO_LEVEL } from "@tether/protocol";
import pino, { type Logger } from "pino";
import { cleanText } from "./line.js";

/** pino's own keys: not repeated in the line's text. */
const OWN = new Set(["level", "time", "msg", "pid", "hostname", "v"]);
const EARLY_MAX = 500;

/** One pino JSON record as a wire line (`src: "agent"`), or null when it is not one. */
export function agentLine(
  json: string,
  now: number,
  maxLineBytes = LOG_LIMITS.maxLineBytes,
): LogLineWire | null {
  let o: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(json);
    if (!v || typeof v !== "object" || Array.isArray(v)) return null;
    o = v as Record<string, unknown>;
  } catch {
    return null;
  }
  let text = typeof o.msg === "string" ? o.msg : "";
  const rest: Record<string, unknown> = {};
  let extra = false;
  for (const [k, v] of Object.entries(o)) {
    if (OWN.has(k)) continue;
    rest[k] = v;
    extra = true;
  }
  if (extra) text += `${text ? " " : ""}${JSON.stringify(rest)}`;
  const { msg, cut } = cleanText(text, maxLineBytes);
  const line: LogLineWire = {
    t: typeof o.time === "number" && Number.isFinite(o.time) ? o.time : now,
    src: "agent",
    msg,
  };
  const lvl = typeof o.level === "number" ? PINO_LEVEL[o.level] : undefined;
  if (lvl) line.lvl = lvl;
  if (cut) line.cut = cut;
  return line;
}

export class AgentLogTap {
  private sink: ((json: string) => void) | null = null;
  private early: string[] = [];
  private inside = false;

  /** A logger that writes where `log` writes, and also to this tap. `log` itself is not changed. */
  wrap(log: Logger): Logger {
    const sym = pino.symbols.streamSym as unknown as keyof Logger;
    const orig = log[sym] as unknown as { write(s: string): void; flush?: (cb?: () => void) => void };
    if (!orig || typeof orig.write !== "function") return log;
    // pino streams that need per-record metadata (multistream) read it from the stream object;
    // a plain tee would hide it from them, so such a logger is not tapped.
    if ((orig as unknown as Record<symbol, unknown>)[pino.symbols.needsMetadataGsym]) return log;
    const tee = {
      write: (s: string) => {
        orig.write(s);
        this.feed(s);
      },
      flush: (cb?: () => void) => (orig.flush ? orig.flush(cb) : cb?.()),
    };
    // The way pino makes a child: a new object over the old one; children of it inherit the tee.
    const wrapped = Object.create(log) as Logger;
    (wrapped as unknown as Record<PropertyKey, unknown>)[sym as PropertyKey] = tee;
    return wrapped;
  }

  /** The runtime takes the records (those queued so far first); null detaches it. */
  attach(sink: ((json: string) => void) | null): void {
    this.sink = sink;
    if (!sink) return;
    const early = this.early;
    this.early = [];
    for (const s of early) this.feed(s);
  }

  private feed(s: string): void {
    if (this.inside) return;
    if (!this.sink) {
      if (this.early.length < EARLY_MAX) this.early.push(s);
      return;
    }
    this.inside = true;
    try {
      for (const l of s.split("\n")) if (l) this.sink(l);
    } catch {
      // The log must never fail because of its tap.
    } finally {
      this.inside = false;
    }
  }
}
