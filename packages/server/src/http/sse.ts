/**
 * Server-Sent Events plumbing for the event streams of capabilities (the logs tail, the live
 * metrics stream): open a hijacked reply as `text/event-stream` with a first comment and a
 * heartbeat comment, close it once whichever side goes, and a per-user registry that bounds
 * the streams a user holds (TETHER_ERR_TOO_MANY_STREAMS, thrown before anything is written so
 * the route answers 429 as JSON) and closes them when the user loses access.
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

  /** `what`: the streams as the bound's error names them ("log streams"). */
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
  /** End the stream and drop the connection at once (a client that does not read). */
  destroy(): void;
}

export interface SseOptions {
  heartbeatMs: number;
  /** The default heartbeat skips its comment while more than this waits in the connection. */
  maxBufferedBytes: number;
  /** Runs once, whichever side closes. */
  onEnd(): void;
  /** The connection's send queue drained. */
  onDrain?(): void;
  /** Replaces the default heartbeat (e.g. to write the comment through a write that checks the bound). */
  heartbeat?(conn: SseConnection): void;
}

/**
 * Start the event stream on a reply the caller hijacks through `hijack`. Returns null when the
 * client had already gone (its close events fired while the route resolved its query; `onEnd`
 * has run, so nothing counts the stream against the user's bound or keeps its heartbeat).
 */
export function openSse(
  req: IncomingMessage,
  res: ServerResponse,
  hijack: () => void,
  o: SseOptions,
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
  // A first comment flushes the head, so the client knows the stream is open.
  res.write(": live\n\n");
  if (o.onDrain) res.on("drain", o.onDrain);
  const conn: SseConnection = {
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
    destroy() {
      end();
      res.destroy();
    },
  };
  heartbeat = setInterval(() => {
    if (o.heartbeat) o.heartbeat(conn);
    else if (res.writableLength <= o.maxBufferedBytes) res.write(": keepalive\n\n");
  }, o.heartbeatMs);
  heartbeat.unref();
  return conn;
}
