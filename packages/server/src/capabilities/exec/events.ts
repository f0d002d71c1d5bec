/**
 * Live events of commands (docs/protocol.md §13) and the replay that a new subscriber gets
 * first: per device its output so far, then its state; then everything that happened since,
 * with output de-duplicated by offset so nothing is sent twice or skipped.
 */
import { EventEmitter } from "node:events";
import { type Command, type CommandEvent, OutputAssembler, outputKey, TetherError } from "@tether/protocol";
import type { Spool, StreamName } from "./spool.js";

/** Output event inside the server: carries the offset so late subscribers can de-duplicate. */
export type LiveEvent = CommandEvent | (CommandEvent & { type: "output"; off: number });

const REPLAY_CHUNK = 48 * 1024;

interface OpenStream {
  userId: number;
  projectId: number;
  close(): void;
}

export class ExecEvents {
  private readonly emitter = new EventEmitter();
  private readonly streams = new Set<OpenStream>();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  /** Live events of one command; returns the unsubscribe function. */
  subscribe(id: string, fn: (e: LiveEvent) => void): () => void {
    this.emitter.on(id, fn);
    return () => this.emitter.off(id, fn);
  }

  listening(id: string): boolean {
    return this.emitter.listenerCount(id) > 0;
  }

  emit(id: string, e: LiveEvent): void {
    if (this.emitter.listenerCount(id)) this.emitter.emit(id, e);
  }

  /**
   * A user's open event stream; returns the function that forgets it. Refused (429) when the
   * user has `maxPerUser` open already: each stream holds a connection and a replay.
   */
  opened(s: OpenStream, maxPerUser = Infinity): () => void {
    let n = 0;
    for (const o of this.streams) if (o.userId === s.userId) n++;
    if (n >= maxPerUser)
      throw new TetherError(
        "TETHER_ERR_TOO_MANY_STREAMS",
        `you have ${n} command event streams open, the most one user may have at once (server --max-event-streams); close one and try again`,
      );
    this.streams.add(s);
    return () => this.streams.delete(s);
  }

  /**
   * A user's access changed (removed, role changed, a token revoked): close their streams in
   * that project; a client that may still read reconnects and is authorised afresh.
   */
  closeStreamsOf(userId: number, projectId?: number): number {
    let n = 0;
    for (const s of [...this.streams]) {
      if (s.userId !== userId || (projectId !== undefined && s.projectId !== projectId)) continue;
      this.streams.delete(s);
      s.close();
      n++;
    }
    return n;
  }
}

/**
 * Where a subscriber's events go. `write` answers false when the connection's buffer is full:
 * nothing more is written until `drained()` resolves (the reader caught up or went away).
 */
export interface EventSink {
  write(e: CommandEvent): boolean;
  drained(): Promise<void>;
  /** Reading the spool failed: end the stream. */
  fail(err: unknown): void;
}

/** Live output bytes a slow subscriber may have queued in memory; past this they are re-read from disk. */
const QUEUED_BYTES = 256 * 1024;

type Item =
  | { kind: "event"; e: CommandEvent }
  | {
      kind: "output";
      deviceId: string;
      device: string;
      stream: StreamName;
      /** Deliver the stream up to this offset (Infinity: to the end of what is stored). */
      end: number;
      /** The bytes [off, end) when they were kept in memory; else they are read from the spool. */
      data?: Buffer;
      off?: number;
    };

/**
 * Subscribe first and queue, then replay from the database and the spool, then go live.
 * Output is copied from the spool in chunks, one at a time as the connection accepts them,
 * so a subscriber that reads slowly (or not at all) holds at most one chunk plus a small
 * queue in memory, whatever the size of the output. Returns the unsubscribe function;
 * `done` is written last when the command has finished.
 */
export async function replayThenFollow(
  deps: { events: ExecEvents; spool: Spool; get: () => Promise<Command> },
  id: string,
  sink: EventSink,
): Promise<() => void> {
  const sent = new OutputAssembler();
  const queue: Item[] = [];
  let queuedBytes = 0;
  let started = false;
  let running = false;
  let stopped = false;

  const onLive = (e: LiveEvent) => {
    if (e.type === "output") {
      const off = (e as { off?: number }).off ?? 0;
      const data = Buffer.from(e.data, "base64");
      const keep = queuedBytes + data.length <= QUEUED_BYTES;
      if (keep) queuedBytes += data.length;
      queue.push({
        kind: "output",
        deviceId: e.deviceId,
        device: e.device,
        stream: e.stream,
        end: off + data.length,
        ...(keep ? { data, off } : {}),
      });
    } else {
      const { off: _off, ...pub } = e as LiveEvent & { off?: number };
      queue.push({ kind: "event", e: pub as CommandEvent });
    }
    if (started) kick();
  };

  const send = async (e: CommandEvent) => {
    if (!sink.write(e)) await sink.drained();
  };
  const output = (it: Extract<Item, { kind: "output" }>, data: Buffer): CommandEvent => ({
    type: "output",
    deviceId: it.deviceId,
    device: it.device,
    stream: it.stream,
    data: data.toString("base64"),
  });

  /** Bytes past what was delivered, up to `it.end`, from the spool one chunk at a time. */
  const copy = async (it: Extract<Item, { kind: "output" }>) => {
    const key = outputKey(it.deviceId, it.stream);
    let pos = sent.delivered(key);
    while (!stopped && pos < it.end) {
      const { data } = await deps.spool.readRange(
        id,
        it.deviceId,
        it.stream,
        pos,
        Math.min(REPLAY_CHUNK, it.end - pos),
      );
      if (data.length === 0) break;
      pos += data.length;
      sent.markDelivered(key, pos);
      await send(output(it, data));
    }
  };

  const pump = async () => {
    running = true;
    try {
      while (queue.length && !stopped) {
        const it = queue.shift()!;
        if (it.kind === "event") {
          await send(it.e);
          continue;
        }
        if (it.data) {
          queuedBytes -= it.data.length;
          const key = outputKey(it.deviceId, it.stream);
          if ((it.off ?? 0) <= sent.delivered(key)) {
            const fresh = sent.accept(key, it.off ?? 0, it.data);
            if (fresh) await send(output(it, fresh));
            continue;
          }
        }
        await copy(it);
      }
    } catch (err) {
      if (!stopped) sink.fail(err);
    } finally {
      running = false;
    }
  };
  const kick = () => {
    if (!running && !stopped) void pump();
  };

  const unsubscribe = deps.events.subscribe(id, onLive);
  try {
    const c = await deps.get();
    // Per device: its output first, then its state, as they happened live; then what
    // happened meanwhile (de-duplicated by offset).
    const replay: Item[] = [];
    for (const run of c.runs ?? []) {
      for (const stream of ["stdout", "stderr"] as const)
        replay.push({ kind: "output", deviceId: run.deviceId, device: run.device, stream, end: Infinity });
      replay.push({ kind: "event", e: { type: "run", run } });
    }
    queue.unshift(...replay);
    if (c.finishedAt !== null) {
      const { runs: _runs, ...rest } = c;
      queue.push({ kind: "event", e: { type: "done", command: { ...rest } } });
    }
  } catch (err) {
    unsubscribe();
    throw err;
  }
  started = true;
  kick();
  return () => {
    stopped = true;
    unsubscribe();
  };
}
