/**
 * One shell session and the people on it (docs/protocol.md §17.3): the owner who opened it,
 * viewers who joined (read-only), writers the owner granted input to. Output is read from the
 * device at the owner's pace (its channel's backpressure) and copied to everyone; a participant
 * that falls more than maxLagBytes behind is disconnected rather than buffered for. Input,
 * resizes, signals and EOF reach the device only from the owner and writers.
 */
import type { Participant, TerminalServerMessage } from "@tether/protocol";
import { TUNNEL_CLOSE } from "@tether/protocol";
import type { Logger } from "pino";
import type { SessionEnd, TunnelChannel, TunnelSession } from "../../tunnels/index.js";
import { endMessage } from "./close-codes.js";
import { OutputRing } from "./output-ring.js";
import type { UserLink } from "./user-link.js";

export interface RoomLimits {
  /** Participants besides the owner. */
  maxViewers: number;
  /** Output a participant may be behind before it is disconnected. */
  maxLagBytes: number;
  /** Output kept for late joiners. */
  replayBytes: number;
  /** How long the end waits for the last output to reach the users. */
  flushMs: number;
}

export const DEFAULT_ROOM_LIMITS: RoomLimits = {
  maxViewers: 16,
  maxLagBytes: 1024 * 1024,
  replayBytes: 64 * 1024,
  flushMs: 5000,
};

type Role = Participant["role"];

/** What a connection may do in the session, and the session's shape. */
export function readyMessage(session: TunnelSession, role: Role): TerminalServerMessage {
  return {
    type: "ready",
    session: session.id,
    device: { id: session.device.id, name: session.device.name },
    role,
    recorded: session.recorded,
    pty: session.pty ? { cols: session.pty.cols, rows: session.pty.rows } : null,
  };
}

interface Seat {
  link: UserLink;
  role: Role;
  /** The "read-only" notice was sent (once per seat). */
  told: boolean;
}

export class Room {
  private readonly seats = new Map<UserLink, Seat>();
  private readonly ring: OutputRing;
  private readonly main: TunnelChannel;
  private ending = false;
  /** Device output (stdout, stderr) paused until the owner's channel drains. */
  private readonly paused = { out: false, err: false };
  /** The device's output was read to its end (or the channel is gone). */
  private readonly outputDone: Promise<void>;

  constructor(
    readonly session: TunnelSession,
    private readonly owner: UserLink,
    private readonly o: RoomLimits,
    private readonly log: Logger,
    private readonly gone: (room: Room) => void,
  ) {
    if (!session.main) throw new Error("a terminal room needs a shell session");
    this.main = session.main;
    this.ring = new OutputRing(o.replayBytes);
    this.outputDone = new Promise((resolve) => {
      if (this.main.readableEnded || this.main.destroyed) return resolve();
      this.main.once("end", resolve);
      this.main.once("close", resolve);
    });
    this.main.on("error", () => {});
    this.seat(owner, "owner");
    this.main.on("data", (c: Buffer) => this.output(c, false));
    this.main.stderr.on("data", (c: Buffer) => this.output(c, true));
    session.once("end", (e: SessionEnd) => void this.end(e));
    owner.once("closed", () => {
      if (!this.ending) this.session.close("closed", `${owner.principal.username} closed the session`);
    });
    if (session.ended) void this.end(session.ended);
  }

  get id(): string {
    return this.session.id;
  }

  get projectId(): number {
    return this.session.projectId;
  }

  /** Whether this connection opened the session. */
  ownedBy(link: UserLink): boolean {
    return link === this.owner;
  }

  /** A viewer joins: the recent output first, then everything live. */
  join(link: UserLink): void {
    if (this.ending) {
      link.end(TUNNEL_CLOSE.refused, {
        type: "error",
        code: "TETHER_ERR_TUNNEL_CLOSED",
        message: "the session is ending",
      });
      return;
    }
    if (this.seats.size - 1 >= this.o.maxViewers) {
      link.end(TUNNEL_CLOSE.refused, {
        type: "error",
        code: "TETHER_ERR_TUNNEL_LIMIT",
        message: `session ${this.id} already has ${this.o.maxViewers} viewers, the most it may have`,
      });
      return;
    }
    link.send(readyMessage(this.session, "viewer"));
    const recent = this.ring.contents();
    if (recent.length) link.write(recent);
    this.seat(link, "viewer");
    link.once("closed", () => {
      if (this.seats.delete(link)) this.participants();
    });
  }

  /** The owner lets `user` type (all of that user's connections), or takes it back. */
  grant(from: UserLink, user: string, write: boolean): void {
    if (from !== this.owner) {
      from.send({ type: "notice", message: "only the session's owner can grant input" });
      return;
    }
    const seats = [...this.seats.values()].filter(
      (s) => s.role !== "owner" && s.link.principal.username === user,
    );
    if (seats.length === 0) {
      from.send({ type: "notice", message: `${user} is not watching this session` });
      return;
    }
    const role: Role = write ? "writer" : "viewer";
    let changed = false;
    for (const s of seats) {
      if (s.role === role) continue;
      s.role = role;
      s.told = false;
      changed = true;
      s.link.send({
        type: "notice",
        message: write
          ? `${this.owner.principal.username} let you type in this session`
          : `${this.owner.principal.username} made this session read-only for you`,
      });
    }
    if (changed) this.participants();
  }

  private seat(link: UserLink, role: Role): void {
    this.seats.set(link, { link, role, told: false });
    this.input(link);
    this.participants();
  }

  private canWrite(link: UserLink): boolean {
    const r = this.seats.get(link)?.role;
    return r === "owner" || r === "writer";
  }

  /** Anything but output from a read-only participant is dropped, with one notice. */
  private refused(link: UserLink): void {
    if (this.ending) return;
    const s = this.seats.get(link);
    if (!s || s.told) return;
    s.told = true;
    link.send({ type: "notice", message: "you are watching read-only: your input is ignored" });
  }

  /** The user's channel 0 towards the device: DATA with backpressure, RESIZE, SIGNAL, EOF. */
  private input(link: UserLink): void {
    const ch = link.ch;
    ch.on("data", (chunk: Buffer) => {
      if (!this.canWrite(link)) return this.refused(link);
      if (!this.main.writable) return;
      if (!this.main.write(chunk)) {
        ch.pause();
        this.main.once("drain", () => ch.resume());
      }
    });
    ch.on("resize", (cols: number, rows: number) => {
      if (!this.canWrite(link)) return this.refused(link);
      this.main.resize(cols, rows);
      // The others draw the same screen: tell them the size (docs/protocol.md §17.3).
      for (const s of this.seats.values()) if (s.link !== link) s.link.send({ type: "size", cols, rows });
    });
    ch.on("signal", (name) => {
      if (!this.canWrite(link)) return this.refused(link);
      this.main.signal(name);
    });
    ch.on("end", () => {
      if (this.canWrite(link) && this.main.writable) this.main.end();
    });
  }

  /** Device output: to everyone; the owner's channel sets the pace, others must keep up. */
  private output(chunk: Buffer, stderr: boolean): void {
    if (!stderr) this.ring.push(chunk);
    for (const s of this.seats.values()) {
      const ok = s.link.write(chunk, stderr);
      if (s.role === "owner") {
        if (!ok) this.waitForOwner(stderr);
      } else if (s.link.lag > this.o.maxLagBytes) this.tooSlow(s.link);
    }
  }

  private waitForOwner(stderr: boolean): void {
    const key = stderr ? "err" : "out";
    if (this.paused[key]) return;
    this.paused[key] = true;
    const source = stderr ? this.main.stderr : this.main;
    source.pause();
    const sink = this.owner.stream(stderr);
    const resume = () => {
      sink.off("drain", resume);
      this.owner.off("closed", resume);
      this.paused[key] = false;
      source.resume();
    };
    sink.on("drain", resume);
    // The owner left: nothing paces the output any more (the session is closing).
    this.owner.on("closed", resume);
  }

  private tooSlow(link: UserLink): void {
    this.log.info(
      { session: this.id, user: link.principal.username, maxLagBytes: this.o.maxLagBytes },
      "terminal: a viewer fell too far behind; disconnected",
    );
    link.end(TUNNEL_CLOSE.normal, {
      type: "error",
      code: "TETHER_ERR_TUNNEL_CLOSED",
      message: `your connection is too slow: it fell more than ${Math.round(this.o.maxLagBytes / 1024)} KiB behind the session's output; join again`,
    });
    if (this.seats.delete(link)) this.participants();
  }

  private participants(): void {
    const list: Participant[] = [...this.seats.values()].map((s) => ({
      user: s.link.principal.username,
      role: s.role,
      via: s.link.via,
      since: s.link.since,
    }));
    for (const s of this.seats.values()) s.link.send({ type: "participants", list });
  }

  /**
   * The session ended: after an exit (or the owner's close) the last output reaches everyone
   * first (bounded by flushMs), then the exit or the reason, then the close.
   */
  private async end(e: SessionEnd): Promise<void> {
    if (this.ending) return;
    this.ending = true;
    this.gone(this);
    const flush = e.reason === "exited" || e.reason === "closed";
    if (flush) await Promise.race([this.outputDone, delay(this.o.flushMs)]);
    const { code, message } = endMessage(e);
    const seats = [...this.seats.values()];
    this.seats.clear();
    // Each participant at its own pace: a slow viewer does not hold the owner's exit back.
    await Promise.all(
      seats.map(async (s) => {
        if (flush) await s.link.flushed(this.o.flushMs);
        const last =
          e.reason === "closed" && s.role !== "owner"
            ? { ...message, message: `${this.owner.principal.username} closed the session` }
            : message;
        s.link.end(code, last);
      }),
    );
  }
}

const delay = (ms: number) =>
  new Promise<void>((r) => {
    setTimeout(r, ms).unref();
  });
