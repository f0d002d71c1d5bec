/**
 * Server-Sent Events plumbing shared by event streams: open a hijacked reply as
 * `text/event-stream` with a heartbeat comment, close it once, and a per-user registry that
 * bounds the streams a user holds (TETHER_ERR_TOO_MANY_STREAMS, thrown before anything is
 * written so the route answers 429 as JSON) and closes them when the user loses access.
 * (The metrics live stream, metrics/live.ts, does the same by hand and can move onto this.)
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { TetherError } from "@tether/protocol";

export interface SseClient {
  userId: number;
  projectId: number;
  close(): void;
}

export class SseRegistry<C extends SseClient> {
  readonly clients = new Set<C>();

  constructor(
    readonly maxPerUser: number,
    private readonly what: string,
  ) {}

  /** Count the client against its user's bound (throws past it); returns its removal. */
  add(c: C): () => void {
    let n = 0;
    for (const o of this.clients) if (o.userId === c.userId) n++;
    if (n >= this.maxPerUser)
      throw new TetherError(
        "TETHER_ERR_TOO_MANY_STREAMS",
        `you have ${n} ${this.what} open, the most one user may have at once (server --max-event-streams); close one and try again`,
      );
    this.clients.add(c);
    return () => this.clients.delete(c);
  }

  /** A user lost access: close their streams (in one project, or all). */
  closeStreamsOf(userId: number, projectId?: number): number {
    let n = 0;
    for (const c of [...this.clients]) {
      if (c.userId !== userId || (projectId !== undefined && c.projectId !== projectId)) continue;
      c.close();
      n++;
    }
    return n;
  }

  closeAll(): void {
    for (const c of [...this.clients]) c.close();
  }
}

export interface SseConnection {
  /** Write raw SSE text (false once closed). */
  write(chunk: string): boolean;
  /** Bytes waiting in the response (the connection's send queue). */
  readonly buffered: number;
  readonly open: boolean;
  end(): void;
}

/**
 * Start the event stream on a reply the caller hijacks through `hijack`. `onEnd` runs once,
 * whichever side closes. Returns null when the client had already gone.
 */
export function openSse(
  req: IncomingMessage,
  res: ServerResponse,
  hijack: () => void,
  o: { heartbeatMs: number; maxBufferedBytes: number; onEnd(): void; onDrain?(): void },
): SseConnection | null {
  let open = true;
  let heartbeat: NodeJS.Timeout | undefined;
  const end = () => {
    if (!open) return;
    open = false;
    clearInterval(heartbeat);
    o.onEnd();
    res.end();
  };
  hijack();
  req.on("close", end);
  res.on("close", end);
  // The client may have gone while the route resolved its query: its close events have fired.
  if (req.destroyed || res.destroyed || res.socket?.destroyed) {
    end();
    return null;
  }
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    connection: "keep-alive",
    "x-content-type-options": "nosniff",
  });
  res.write(": live\n\n");
  if (o.onDrain) res.on("drain", o.onDrain);
  heartbeat = setInterval(() => {
    if (res.writableLength <= o.maxBufferedBytes) res.write(": keepalive\n\n");
  }, o.heartbeatMs);
  heartbeat.unref();
  return {
    write(chunk) {
      if (!open) return false;
      res.write(chunk);
      return true;
    },
    get buffered() {
      return res.writableLength;
    },
    get open() {
      return open;
    },
    end,
  };
}
