/**
 * The live metrics stream (`GET /api/v1/metrics/stream`, docs/protocol.md §14.5): Server-Sent
 * Events, one `samples` event (LiveSamples) per stored batch of a watched device, a comment
 * every 15 s so proxies keep the connection. Bounded like the command event streams: at
 * most `maxPerUser` streams per user (429 TETHER_ERR_TOO_MANY_STREAMS), and a client that
 * does not read is dropped once `maxBufferedBytes` wait in its socket, rather than the server
 * holding its events without limit (it reconnects and reads the history with a range query).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { LiveSamples } from "@tether/protocol";
import type { Logger } from "pino";
import { openSse, type SseClient, type SseConnection, SseRegistry } from "../../http/sse.js";
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

interface Client extends SseClient {
  /** Watched devices: id → name. */
  devices: Map<string, string>;
  send(e: LiveSamples): void;
}

export class LiveHub {
  private readonly registry: SseRegistry<Client>;
  private readonly byDevice = new Map<string, Set<Client>>();
  /** Clients dropped because they did not read (for the server's own metrics). */
  slowDropped = 0;

  constructor(
    readonly o: LiveOptions,
    private readonly log: Logger,
  ) {
    this.registry = new SseRegistry(o.maxPerUser, "live metric streams");
  }

  get size(): number {
    return this.registry.clients.size;
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
    const remove = this.registry.add(c);
    for (const id of c.devices.keys()) {
      let set = this.byDevice.get(id);
      if (!set) {
        set = new Set();
        this.byDevice.set(id, set);
      }
      set.add(c);
    }
    return () => {
      remove();
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
    let conn: SseConnection | null = null;
    const write = (c: SseConnection, chunk: string) => {
      if (!c.open) return;
      // The socket's own buffer is the send queue; past the bound the reader is too slow.
      if (c.buffered > this.o.maxBufferedBytes) {
        this.slowDropped++;
        this.log.warn(
          { user: who.username, buffered: c.buffered },
          "live metrics stream dropped: the client does not read",
        );
        c.destroy();
        return;
      }
      c.write(chunk);
    };
    const client: Client = {
      userId: who.userId,
      projectId: who.projectId,
      devices,
      send: (e) => {
        if (conn) write(conn, `event: samples\ndata: ${JSON.stringify(e)}\n\n`);
      },
      close: () => conn?.end(),
    };
    const forget = this.add(client);
    conn = openSse(req, res, hijack, {
      heartbeatMs: this.o.heartbeatMs,
      maxBufferedBytes: this.o.maxBufferedBytes,
      onEnd: forget,
      // A heartbeat to a client that does not read drops it too.
      heartbeat: (c) => write(c, ": keepalive\n\n"),
    });
  }

  /** A user lost access: close their streams (in one project, or all). */
  closeStreamsOf(userId: number, projectId?: number): number {
    return this.registry.closeStreamsOf(userId, projectId);
  }

  closeAll(): void {
    this.registry.closeAll();
  }
}
