/**
 * Live events of commands (docs/protocol.md §13) and the replay that a new subscriber gets
 * first: per device its output so far, then its state; then everything that happened since,
 * with output de-duplicated by offset so nothing is sent twice or skipped.
 */
import { EventEmitter } from "node:events";
import { type Command, type CommandEvent, OutputAssembler, outputKey } from "@tether/protocol";
import type { Spool } from "./spool.js";

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

  /** A user's open event stream; returns the function that forgets it. */
  opened(s: OpenStream): () => void {
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

export interface EventSink {
  write(e: CommandEvent): void;
}

/**
 * Subscribe first and buffer, then replay from the database and the spool, then go live.
 * Returns the unsubscribe function; `done` is written last when the command has finished.
 */
export async function replayThenFollow(
  deps: { events: ExecEvents; spool: Spool; get: () => Promise<Command> },
  id: string,
  sink: EventSink,
): Promise<() => void> {
  const buffered: LiveEvent[] = [];
  let live = false;
  const sent = new OutputAssembler();
  const write = (e: LiveEvent) => {
    const { off: _off, ...pub } = e as LiveEvent & { off?: number };
    sink.write(pub as CommandEvent);
  };
  const deliver = (e: LiveEvent) => {
    if (e.type === "output") {
      const off = (e as { off?: number }).off ?? 0;
      const fresh = sent.accept(outputKey(e.deviceId, e.stream), off, Buffer.from(e.data, "base64"));
      if (fresh) write({ ...e, data: fresh.toString("base64") });
      return;
    }
    write(e);
  };
  const unsubscribe = deps.events.subscribe(id, (e) => (live ? deliver(e) : buffered.push(e)));
  try {
    const c = await deps.get();
    // Per device: its output first, then its state, as they happened live.
    for (const run of c.runs ?? []) {
      for (const stream of ["stdout", "stderr"] as const) {
        const buf = await deps.spool.read(id, run.deviceId, stream);
        for (let i = 0; i < buf.length; i += REPLAY_CHUNK) {
          write({
            type: "output",
            deviceId: run.deviceId,
            device: run.device,
            stream,
            data: buf.subarray(i, i + REPLAY_CHUNK).toString("base64"),
          });
        }
        sent.markDelivered(outputKey(run.deviceId, stream), buf.length);
      }
      write({ type: "run", run });
    }
    live = true;
    for (const e of buffered.splice(0)) deliver(e);
    if (c.finishedAt !== null) {
      const { runs: _runs, ...rest } = c;
      write({ type: "done", command: { ...rest } });
    }
  } catch (err) {
    unsubscribe();
    throw err;
  }
  return unsubscribe;
}
