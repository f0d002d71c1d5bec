/**
 * Plays a parsed asciicast into a terminal with its timing: play, pause, speed, seek. Seeking
 * (or replaying) resets the terminal and writes everything up to that point at once, so a
 * position is always what the recorded terminal showed then. No React, no xterm.js: the page
 * passes a sink.
 */
import { type Cast, eventsUntil } from "./asciicast";

export interface CastSink {
  reset(): void;
  resize(cols: number, rows: number): void;
  write(data: string): void;
}

/** How often the time display moves while playing. */
const TICK_MS = 200;

export class CastPlayer {
  private next = 0;
  private pos = 0;
  private speedFactor = 1;
  /** While playing: the wall clock when `pos` was `basePos`. */
  private baseTime = 0;
  private basePos = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** The sink was reset and sized for this cast. */
  private started = false;

  constructor(
    private readonly cast: Cast,
    private readonly sink: CastSink,
    /** Position or state changed (for the page's display). */
    private readonly onChange: () => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.seek(0);
  }

  get playing(): boolean {
    return this.timer !== null;
  }
  get position(): number {
    return this.pos;
  }
  get duration(): number {
    return this.cast.duration;
  }
  get speed(): number {
    return this.speedFactor;
  }
  get atEnd(): boolean {
    return this.next >= this.cast.events.length && this.pos >= this.cast.duration;
  }

  play(): void {
    if (this.playing) return;
    if (this.atEnd) this.seek(0);
    this.basePos = this.pos;
    this.baseTime = this.now();
    this.schedule(0);
    this.onChange();
  }

  pause(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.onChange();
  }

  setSpeed(s: number): void {
    this.basePos = this.pos;
    this.baseTime = this.now();
    this.speedFactor = s;
    this.onChange();
  }

  /** Show the terminal as it was at `t` seconds. */
  seek(t: number): void {
    const target = Math.max(0, Math.min(t, this.cast.duration));
    const ev = this.cast.events;
    let from = this.next;
    if (target < this.pos || !this.started) {
      this.started = true;
      this.sink.reset();
      this.sink.resize(this.cast.width, this.cast.height);
      from = 0;
    }
    const until = eventsUntil(ev, target, from);
    this.apply(from, until);
    this.next = until;
    this.pos = target;
    this.basePos = target;
    this.baseTime = this.now();
    this.onChange();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Write events [from, until): consecutive output in one write, resizes in order. */
  private apply(from: number, until: number): void {
    const ev = this.cast.events;
    let out = "";
    for (let i = from; i < until; i++) {
      const e = ev[i];
      if (e.kind === "o") out += e.data;
      else {
        if (out) this.sink.write(out);
        out = "";
        if (e.cols && e.rows) this.sink.resize(e.cols, e.rows);
      }
    }
    if (out) this.sink.write(out);
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => this.tick(), ms);
  }

  private tick(): void {
    this.timer = null;
    const pos = Math.min(
      this.cast.duration,
      this.basePos + ((this.now() - this.baseTime) / 1000) * this.speedFactor,
    );
    const until = eventsUntil(this.cast.events, pos, this.next);
    this.apply(this.next, until);
    this.next = until;
    this.pos = pos;
    if (this.next >= this.cast.events.length && pos >= this.cast.duration) {
      this.onChange();
      return;
    }
    const nextT = this.next < this.cast.events.length ? this.cast.events[this.next].t : this.cast.duration;
    const wait = ((nextT - pos) / this.speedFactor) * 1000;
    this.schedule(Math.max(0, Math.min(TICK_MS, wait)));
    this.onChange();
  }
}
