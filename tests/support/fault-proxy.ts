/**
 * Fault-injecting TCP proxy for end-to-end tests.
 *
 * Killing a process always closes its sockets cleanly (FIN or RST), so it can never show what a
 * robot losing Wi-Fi looks like: a connection that stays "open" while no bytes move. This proxy
 * sits between a client (e.g. the agent) and a target (e.g. the server) on 127.0.0.1 and can add
 * latency, silently drop traffic, cut connections abruptly, or refuse new connections.
 *
 * Only node:net and node:events are used.
 *
 * Events on `proxy.events`:
 *  - 'connection' (info: { id })                      a client pair is ready (upstream connected)
 *  - 'close'      (info: { id })                      both legs of a pair have closed
 *  - 'drop'       (info: { id, direction, bytes })    bytes discarded while blackholed (lets tests
 *                                                     wait deterministically for a drop to happen)
 */
import { EventEmitter } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";

export interface FaultProxy {
  /** The listening port on 127.0.0.1. */
  readonly port: number;
  /** Always '127.0.0.1'. */
  readonly host: string;
  /** Add `ms` of latency to every chunk, in each direction, preserving order. Applies to chunks received from now on. */
  setDelay(ms: number): void;
  /**
   * Silent drop. While on, sockets stay open but bytes are discarded in both directions (including
   * chunks still waiting out a delay), FIN/RST from either side is not passed on, and new client
   * connections are accepted but not connected upstream. Turning it off forwards NEW data only,
   * connects held connections upstream, and passes on any FIN/RST that was held back.
   */
  blackhole(on: boolean): void;
  /** Destroy all current connections abruptly (RST where possible) on both legs. */
  cut(): void;
  /** While on, new client connections are reset immediately. */
  refuse(on: boolean): void;
  /** Currently open client connections. */
  connectionCount(): number;
  readonly events: EventEmitter;
  /** Stop listening and destroy everything. Resolves once the listener and every pair are closed. */
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  targetHost?: string;
  targetPort: number;
  listenPort?: number;
}

export type FaultDirection = "client->upstream" | "upstream->client";

export interface FaultConnectionInfo {
  id: number;
}

export interface FaultDropInfo {
  id: number;
  direction: FaultDirection;
  bytes: number;
}

const HOST = "127.0.0.1";
/** With a delay set, pause the reader once this many bytes are waiting in the delay queue. */
const QUEUE_HIGH_WATER = 1024 * 1024;

function noop(): void {}

/** Close a socket abruptly: RST when possible, plain destroy otherwise. */
function abort(socket: Socket | null): void {
  if (!socket || socket.destroyed) return;
  if (!socket.connecting && typeof socket.resetAndDestroy === "function") {
    try {
      socket.resetAndDestroy();
      return;
    } catch {
      // fall through to destroy()
    }
  }
  socket.destroy();
}

interface ProxyState {
  delay: number;
  blackholed: boolean;
  events: EventEmitter;
  targetHost: string;
  targetPort: number;
}

/** One direction of a pair: reads from `src`, optionally delays, writes to `dst`. */
class Pipe {
  private queue: Array<{ due: number; chunk: Buffer }> = [];
  private queuedBytes = 0;
  private lastDue = 0;
  private timer: NodeJS.Timeout | null = null;
  private waitingDrain = false;
  /** The source sent FIN. */
  srcEnded = false;
  private endForwarded = false;

  constructor(
    private readonly pair: Pair,
    readonly direction: FaultDirection,
  ) {}

  private dst(): Socket | null {
    return this.direction === "client->upstream" ? this.pair.upstream : this.pair.client;
  }

  /** The destination can be written to now. */
  private ready(): boolean {
    const dst = this.dst();
    if (!dst || dst.destroyed || dst.writableEnded) return false;
    return this.direction === "upstream->client" || this.pair.state === "open";
  }

  /** Backpressure or a full delay queue: the source must not be read. */
  blocked(): boolean {
    return this.waitingDrain || this.queuedBytes > QUEUE_HIGH_WATER;
  }

  push(chunk: Buffer): void {
    const proxy = this.pair.proxy;
    if (proxy.blackholed) {
      this.drop(chunk.length);
      return;
    }
    if (proxy.delay === 0 && this.queue.length === 0 && this.ready()) {
      this.write(chunk);
      return;
    }
    // Never schedule a chunk before the one in front of it, even if the delay was lowered.
    const due = Math.max(performance.now() + proxy.delay, this.lastDue);
    this.lastDue = due;
    this.queue.push({ due, chunk });
    this.queuedBytes += chunk.length;
    if (this.queuedBytes > QUEUE_HIGH_WATER) this.pair.updateFlow();
    this.schedule();
  }

  /** (Re)arm the timer for the head of the queue. */
  schedule(): void {
    if (this.timer || this.queue.length === 0 || !this.ready()) return;
    const wait = Math.max(0, Math.ceil(this.queue[0].due - performance.now()));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, wait);
  }

  private flush(): void {
    const now = performance.now();
    const wasBlocked = this.blocked();
    while (this.queue.length > 0 && this.queue[0].due <= now && this.ready()) {
      const { chunk } = this.queue.shift()!;
      this.queuedBytes -= chunk.length;
      if (this.pair.proxy.blackholed) this.drop(chunk.length);
      else this.write(chunk);
    }
    if (wasBlocked && !this.blocked()) this.pair.updateFlow();
    this.schedule();
    this.maybeEnd();
  }

  private write(chunk: Buffer): void {
    const dst = this.dst();
    if (!dst || dst.destroyed || dst.writableEnded) return;
    if (!dst.write(chunk) && !this.waitingDrain) {
      this.waitingDrain = true;
      this.pair.updateFlow();
      dst.once("drain", () => {
        this.waitingDrain = false;
        this.pair.updateFlow();
      });
    }
  }

  private drop(bytes: number): void {
    const info: FaultDropInfo = { id: this.pair.id, direction: this.direction, bytes };
    this.pair.proxy.events.emit("drop", info);
  }

  /** Pass on the source's FIN once everything before it has been delivered (never while blackholed). */
  maybeEnd(): void {
    if (!this.srcEnded || this.endForwarded || this.queue.length > 0) return;
    if (this.pair.proxy.blackholed || !this.ready()) return;
    this.endForwarded = true;
    this.dst()!.end();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
    this.queuedBytes = 0;
  }
}

/** A client connection and its upstream connection. */
class Pair {
  upstream: Socket | null = null;
  /** deferred: accepted while blackholed, upstream not started; connecting; open. */
  state: "deferred" | "connecting" | "open" = "connecting";
  readonly c2u: Pipe;
  readonly u2c: Pipe;
  private clientClosed = false;
  private upstreamClosed = false;
  /** A leg closed abruptly while blackholed: reset the other leg when the blackhole ends. */
  pendingAbort = false;
  finished = false;

  constructor(
    readonly id: number,
    readonly client: Socket,
    readonly proxy: ProxyState,
    private readonly onFinish: (pair: Pair) => void,
  ) {
    this.c2u = new Pipe(this, "client->upstream");
    this.u2c = new Pipe(this, "upstream->client");
    client.setNoDelay(true);
    // Paused explicitly before 'data' is attached so that attaching it does not start the flow.
    client.pause();
    client.on("data", (chunk: Buffer) => this.c2u.push(chunk));
    client.on("end", () => {
      this.c2u.srcEnded = true;
      this.c2u.maybeEnd();
    });
    client.on("close", (hadError: boolean) => {
      this.clientClosed = true;
      this.onLegClose(client, this.upstream, hadError);
    });
  }

  /** Pause or resume each leg according to backpressure and connection state. */
  updateFlow(): void {
    const client = this.client;
    if (!client.destroyed) {
      // While deferred the client must keep flowing so its bytes are read and discarded.
      const hold = this.state === "connecting" || this.c2u.blocked();
      if (hold) client.pause();
      else client.resume();
    }
    const up = this.upstream;
    if (up && !up.destroyed) {
      if (this.u2c.blocked()) up.pause();
      else up.resume();
    }
  }

  defer(): void {
    this.state = "deferred";
    this.updateFlow();
  }

  connectUpstream(): void {
    this.state = "connecting";
    this.updateFlow();
    const up = connect({
      host: this.proxy.targetHost,
      port: this.proxy.targetPort,
      allowHalfOpen: true,
      noDelay: true,
    });
    this.upstream = up;
    up.setNoDelay(true);
    up.on("error", noop);
    up.once("connect", () => {
      this.state = "open";
      const info: FaultConnectionInfo = { id: this.id };
      this.proxy.events.emit("connection", info);
      this.updateFlow();
      this.c2u.schedule();
      this.c2u.maybeEnd();
    });
    up.on("data", (chunk: Buffer) => this.u2c.push(chunk));
    up.on("end", () => {
      this.u2c.srcEnded = true;
      this.u2c.maybeEnd();
    });
    up.on("close", (hadError: boolean) => {
      this.upstreamClosed = true;
      this.onLegClose(up, this.client, hadError);
    });
  }

  private onLegClose(sock: Socket, other: Socket | null, hadError: boolean): void {
    // A clean close means FIN both ways; the other leg then finishes on its own once its queue
    // drains. Anything else (RST, error, local destroy) is passed on as a reset.
    const abrupt = hadError || !(sock.readableEnded && sock.writableFinished);
    if (other && !other.destroyed && abrupt) {
      if (this.proxy.blackholed) this.pendingAbort = true;
      else this.abortAll();
    }
    this.maybeFinish();
  }

  /** Called when the blackhole is lifted. */
  resume(): void {
    if (this.finished) return;
    if (this.pendingAbort) {
      this.abortAll();
      return;
    }
    if (this.state === "deferred") {
      if (this.client.destroyed) return;
      this.connectUpstream();
    }
    for (const pipe of [this.c2u, this.u2c]) {
      pipe.schedule();
      pipe.maybeEnd();
    }
  }

  abortAll(): void {
    this.c2u.dispose();
    this.u2c.dispose();
    abort(this.client);
    abort(this.upstream);
  }

  private maybeFinish(): void {
    if (this.finished || !this.clientClosed) return;
    if (this.upstream && !this.upstreamClosed) return;
    this.finished = true;
    this.c2u.dispose();
    this.u2c.dispose();
    this.onFinish(this);
  }
}

export async function createFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const events = new EventEmitter();
  const state: ProxyState = {
    delay: 0,
    blackholed: false,
    events,
    targetHost: opts.targetHost ?? HOST,
    targetPort: opts.targetPort,
  };
  const pairs = new Set<Pair>();
  let refusing = false;
  let closing: Promise<void> | null = null;
  let nextId = 1;

  const finish = (pair: Pair): void => {
    pairs.delete(pair);
    const info: FaultConnectionInfo = { id: pair.id };
    events.emit("close", info);
  };

  const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    client.on("error", noop);
    if (closing || refusing) {
      abort(client);
      return;
    }
    const pair = new Pair(nextId++, client, state, finish);
    pairs.add(pair);
    if (state.blackholed) pair.defer();
    else pair.connectUpstream();
  });
  server.on("error", noop);

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once("error", onError);
    server.listen(opts.listenPort ?? 0, HOST, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("fault proxy: unexpected listen address");
  const port = address.port;

  const cut = (): void => {
    for (const pair of pairs) pair.abortAll();
  };

  return {
    port,
    host: HOST,
    events,
    setDelay(ms: number): void {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`fault proxy: invalid delay ${ms}`);
      state.delay = ms;
    },
    blackhole(on: boolean): void {
      if (state.blackholed === on) return;
      state.blackholed = on;
      if (!on) for (const pair of [...pairs]) pair.resume();
    },
    cut,
    refuse(on: boolean): void {
      refusing = on;
    },
    connectionCount(): number {
      let n = 0;
      for (const pair of pairs) if (!pair.client.destroyed) n++;
      return n;
    },
    close(): Promise<void> {
      if (closing) return closing;
      closing = (async () => {
        const listenerClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        cut();
        // Every socket is reset by cut(); the listener closing is what we wait for. (Waiting
        // for each pair's bookkeeping to settle could hang on a pair that never finished.)
        for (const p of pairs) {
          p.client.destroy();
          p.upstream?.destroy();
        }
        pairs.clear();
        await listenerClosed;
      })();
      return closing;
    },
  };
}
