/**
 * The live metrics stream (`GET /api/v1/metrics/stream`, docs/protocol.md §14.5): Server-Sent
 * Events, one `samples` event (LiveSamples) per stored batch of a watched device, a comment
 * every 15 s so proxies keep the connection. Bounded like the command event streams: at
 * most `maxPerUser` streams per user (429 TETHER_ERR_TOO_MANY_STREAMS), and a client that
 * does not read is dropped once `maxBufferedBytes` wait in its socket, rather than the server
 * holding its events without limit (it reconnects and reads the history with a range query).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type LiveSamples, TetherError } from "@tether/protocol";
import type { Logger } from "pino";
import type { StoredSamples } from "./store/types.js";

export interface LiveOptions {
  maxPerUser: number;
  heartbeatMs: number;
  maxBufferedBytes: number;
}

export const DEFAULT_LIVE: LiveOptions = {
  maxPerUser: 16,
  heartbeatMs: 15_000,
  maxBufferedBytes: 1024 * 1024,
};

interface Client {
  userId: number;
  projectId: number;
  /** Watched devices: id → name. */
  devices: Map<string, string>;
  send(e: LiveSamples): void;
  close(): void;
}

export class LiveHub {
  private readonly clients = new Set<Client>();
  private readonly byDevice = new Map<string, Set<Client>>();
  /** Clients dropped because they did not read (for the server's own metrics). */
  slowDropped = 0;

  constructor(
    readonly o: LiveOptions,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.clients.size;
  }

  /** Fan a stored batch out to the clients watching its device. */
  stored(s: StoredSamples): void {
    const watching = this.byDevice.get(s.deviceId);
    if (!watching) return;
    for (const c of watching) {
      c.send({
        device: c.devices.get(s.deviceId) ?? s.deviceId,
        deviceId: s.deviceId,
        series: s.series.map((x) => ({ name: x.name, labels: x.labels, points: x.points })),
        gaps: [],
      });
    }
  }

  private add(c: Client): () => void {
    let n = 0;
    for (const o of this.clients) if (o.userId === c.userId) n++;
    if (n >= this.o.maxPerUser)
      throw new TetherError(
        "TETHER_ERR_TOO_MANY_STREAMS",
        `you have ${n} live metric streams open, the most one user may have at once (server --max-event-streams); close one and try again`,
      );
    this.clients.add(c);
    for (const id of c.devices.keys()) {
      let set = this.byDevice.get(id);
      if (!set) {
        set = new Set();
        this.byDevice.set(id, set);
      }
      set.add(c);
    }
    return () => {
      this.clients.delete(c);
      for (const id of c.devices.keys()) {
        const set = this.byDevice.get(id);
        set?.delete(c);
        if (set?.size === 0) this.byDevice.delete(id);
      }
    };
  }

  /**
   * Serve one SSE client on a hijacked reply. Throws TETHER_ERR_TOO_MANY_STREAMS before
   * anything is written, so the caller answers 429 as JSON.
   */
  open(
    who: { userId: number; projectId: number; username: string },
    devices: Map<string, string>,
    req: IncomingMessage,
    res: ServerResponse,
    hijack: () => void,
  ): void {
    let open = true;
    let heartbeat: NodeJS.Timeout | undefined;
    const write = (chunk: string) => {
      if (!open) return;
      // The socket's own buffer is the send queue; past the bound the reader is too slow.
      if (res.writableLength > this.o.maxBufferedBytes) {
        this.slowDropped++;
        this.log.warn(
          { user: who.username, buffered: res.writableLength },
          "live metrics stream dropped: the client does not read",
        );
        end();
        res.destroy();
        return;
      }
      res.write(chunk);
    };
    const client: Client = {
      userId: who.userId,
      projectId: who.projectId,
      devices,
      send: (e) => write(`event: samples\ndata: ${JSON.stringify(e)}\n\n`),
      close: () => end(),
    };
    const forget = this.add(client);
    const end = () => {
      if (!open) return;
      open = false;
      clearInterval(heartbeat);
      forget();
      res.end();
    };
    hijack();
    req.on("close", end);
    res.on("close", end);
    // The client may have gone while the route resolved its devices: its close events have
    // fired already, and nothing would ever forget this stream (it would count against the
    // user's bound, and its heartbeat run, for ever).
    if (req.destroyed || res.destroyed || res.socket?.destroyed) {
      end();
      return;
    }
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-content-type-options": "nosniff",
    });
    // A first comment flushes the head, so the client knows the stream is open.
    res.write(": live\n\n");
    heartbeat = setInterval(() => write(": keepalive\n\n"), this.o.heartbeatMs);
    heartbeat.unref();
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
