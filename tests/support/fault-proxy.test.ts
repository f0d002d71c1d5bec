// @matrix: once
// Tests for the fault-injecting TCP proxy. Deterministic: every wait is on an event, never a sleep.
// Run: node --import tsx --test tests/support/fault-proxy.test.ts
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, beforeEach, describe, it } from "node:test";
import { createFaultProxy, type FaultDirection, type FaultDropInfo, type FaultProxy } from "./fault-proxy.js";

const TEST_TIMEOUT = 20_000;

interface TestServer {
  server: Server;
  port: number;
  sockets: Set<Socket>;
  accepted: number;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1. `echo` mirrors every byte back (and FIN after the last one). */
async function startServer(opts: { echo: boolean; slowReader?: boolean }): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const ts = { sockets, accepted: 0 } as TestServer;
  const server = createServer((socket) => {
    ts.accepted++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    if (!opts.echo) return;
    if (opts.slowReader) {
      // Reads one chunk per event-loop turn: forces backpressure through the proxy.
      socket.on("data", (chunk: Buffer) => {
        socket.pause();
        socket.write(chunk);
        setImmediate(() => socket.resume());
      });
      socket.on("end", () => socket.end());
    } else {
      socket.pipe(socket);
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  ts.server = server;
  ts.port = (server.address() as { port: number }).port;
  ts.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return ts;
}

/** Collects everything a socket receives and lets a test await a byte count or the end. */
class Receiver {
  private chunks: Buffer[] = [];
  length = 0;
  ended = false;
  closed = false;
  error: Error | null = null;
  private waiters: Array<() => void> = [];

  constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.length += chunk.length;
      this.wake();
    });
    socket.on("end", () => {
      this.ended = true;
      this.wake();
    });
    socket.on("error", (err) => {
      this.error = err;
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private waitFor(done: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (done()) resolve();
        else if (this.closed)
          reject(new Error(`socket closed while waiting for ${what} (have ${this.length})`));
        else this.waiters.push(check);
      };
      check();
    });
  }

  /** Resolves with all bytes received so far once at least `n` have arrived. */
  async atLeast(n: number): Promise<Buffer> {
    await this.waitFor(() => this.length >= n, `${n} bytes`);
    return this.data();
  }

  /** Resolves with all bytes once the peer has sent FIN. */
  async untilEnd(): Promise<Buffer> {
    await this.waitFor(() => this.ended, "end");
    return this.data();
  }

  data(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Forget what has been received so far (a "next bytes" baseline). */
  reset(): void {
    this.chunks = [];
    this.length = 0;
  }
}

/** Resolves on 'close' (events.once would reject on the 'error' that precedes a reset). */
function closeOf(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.once("close", () => resolve()));
}

async function connectClient(port: number): Promise<Socket> {
  const socket = connect({ host: "127.0.0.1", port });
  socket.on("error", () => {});
  await once(socket, "connect");
  return socket;
}

/** Resolves once the proxy has discarded at least `n` bytes travelling in `direction`. */
function dropped(proxy: FaultProxy, direction: FaultDirection, n: number): Promise<void> {
  return new Promise((resolve) => {
    let total = 0;
    const onDrop = (info: FaultDropInfo): void => {
      if (info.direction !== direction) return;
      total += info.bytes;
      if (total >= n) {
        proxy.events.off("drop", onDrop);
        resolve();
      }
    };
    proxy.events.on("drop", onDrop);
  });
}

function payload(size: number, seed = 1): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x & 0xff;
  }
  return buf;
}

/** Connect through the proxy and wait until the pair is fully established. */
async function connectThrough(proxy: FaultProxy): Promise<{ socket: Socket; rx: Receiver }> {
  const ready = once(proxy.events, "connection");
  const socket = await connectClient(proxy.port);
  await ready;
  return { socket, rx: new Receiver(socket) };
}

describe("fault proxy", { timeout: TEST_TIMEOUT }, () => {
  let echo: TestServer;
  let proxy: FaultProxy;
  const clients: Socket[] = [];

  beforeEach(async () => {
    echo = await startServer({ echo: true });
    proxy = await createFaultProxy({ targetPort: echo.port });
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await proxy.close();
    await echo.close();
  });

  async function client(): Promise<{ socket: Socket; rx: Receiver }> {
    const c = await connectThrough(proxy);
    clients.push(c.socket);
    return c;
  }

  it("listens on 127.0.0.1 and passes bytes both ways", async () => {
    assert.equal(proxy.host, "127.0.0.1");
    assert.ok(proxy.port > 0);
    const { socket, rx } = await client();
    assert.equal(proxy.connectionCount(), 1);
    socket.write("hello");
    assert.equal((await rx.atLeast(5)).toString(), "hello");
    socket.write(" world");
    assert.equal((await rx.atLeast(11)).toString(), "hello world");
  });

  it("passes the target's data to the client (server speaks first)", async () => {
    const target = await startServer({ echo: false });
    const p2 = await createFaultProxy({ targetPort: target.port, targetHost: "127.0.0.1" });
    try {
      const accepted = once(target.server, "connection");
      const socket = await connectClient(p2.port);
      clients.push(socket);
      const rx = new Receiver(socket);
      const [serverSide] = (await accepted) as [Socket];
      serverSide.write("banner\n");
      assert.equal((await rx.atLeast(7)).toString(), "banner\n");
    } finally {
      await p2.close();
      await target.close();
    }
  });

  it("relays a 1 MiB payload intact and in order, and passes on FIN", async () => {
    const { socket, rx } = await client();
    const data = payload(1024 * 1024);
    socket.end(data);
    const got = await rx.untilEnd();
    assert.equal(got.length, data.length);
    assert.ok(got.equals(data), "payload corrupted or reordered");
  });

  it("relays a 1 MiB payload intact and in order with a delay set", async () => {
    proxy.setDelay(5);
    const { socket, rx } = await client();
    const data = payload(1024 * 1024, 7);
    socket.end(data);
    const got = await rx.untilEnd();
    assert.equal(got.length, data.length);
    assert.ok(got.equals(data), "payload corrupted or reordered");
  });

  it("with a delay set the echo still arrives, in order, even when the delay is lowered mid-stream", async () => {
    proxy.setDelay(40);
    const { socket, rx } = await client();
    socket.write("A-first;");
    proxy.setDelay(0);
    socket.write("B-second;");
    proxy.setDelay(15);
    socket.write("C-third;");
    const expected = "A-first;B-second;C-third;";
    assert.equal((await rx.atLeast(expected.length)).toString(), expected);
  });

  it("keeps an 8 MiB stream intact through a slow reader (backpressure)", async () => {
    const slow = await startServer({ echo: true, slowReader: true });
    const p2 = await createFaultProxy({ targetPort: slow.port });
    try {
      const ready = once(p2.events, "connection");
      const socket = await connectClient(p2.port);
      clients.push(socket);
      await ready;
      const rx = new Receiver(socket);
      const data = payload(8 * 1024 * 1024, 3);
      socket.end(data);
      const got = await rx.untilEnd();
      assert.ok(got.equals(data), "payload corrupted or reordered");
    } finally {
      await p2.close();
      await slow.close();
    }
  });

  it("blackhole drops client->server bytes silently; after it ends only new bytes flow", async () => {
    const { socket, rx } = await client();
    let clientClosed = false;
    socket.on("close", () => {
      clientClosed = true;
    });
    let proxyClosed = false;
    proxy.events.on("close", () => {
      proxyClosed = true;
    });
    socket.write("before;");
    await rx.atLeast(7);
    rx.reset();

    proxy.blackhole(true);
    const lost = "LOST-WHILE-BLACKHOLED;";
    const drop = dropped(proxy, "client->upstream", lost.length);
    socket.write(lost);
    await drop; // the proxy has read and discarded every byte of it

    proxy.blackhole(false);
    socket.write("after;");
    // Had the blackholed bytes been forwarded they would arrive (in order) before these.
    assert.equal((await rx.atLeast(6)).toString(), "after;");
    assert.equal(clientClosed, false, "client socket must stay open through a blackhole");
    assert.equal(socket.destroyed, false);
    assert.equal(proxyClosed, false);
    assert.equal(proxy.connectionCount(), 1);
    assert.equal(echo.sockets.size, 1, "server-side socket must stay open too");
  });

  it("blackhole drops server->client bytes silently", async () => {
    const target = await startServer({ echo: false });
    const p2 = await createFaultProxy({ targetPort: target.port });
    try {
      const accepted = once(target.server, "connection");
      const ready = once(p2.events, "connection");
      const socket = await connectClient(p2.port);
      clients.push(socket);
      const rx = new Receiver(socket);
      const [serverSide] = (await accepted) as [Socket];
      await ready;
      let serverSideClosed = false;
      serverSide.on("close", () => {
        serverSideClosed = true;
      });

      p2.blackhole(true);
      const lost = "SERVER-BYTES-LOST;";
      const drop = dropped(p2, "upstream->client", lost.length);
      serverSide.write(lost);
      await drop;
      p2.blackhole(false);
      serverSide.write("fresh;");
      assert.equal((await rx.atLeast(6)).toString(), "fresh;");
      assert.equal(rx.closed, false);
      assert.equal(serverSideClosed, false);
    } finally {
      await p2.close();
      await target.close();
    }
  });

  it("blackhole also discards bytes that were still waiting out a delay", async () => {
    const { socket, rx } = await client();
    proxy.setDelay(50);
    const lost = "DELAYED-THEN-LOST;";
    // Whether the proxy reads these before or after the blackhole starts, they must be dropped:
    // either straight away or when their delay elapses while the blackhole is on.
    const drop = dropped(proxy, "client->upstream", lost.length);
    socket.write(lost);
    proxy.blackhole(true);
    await drop;
    proxy.blackhole(false);
    proxy.setDelay(0);
    socket.write("ok;");
    assert.equal((await rx.atLeast(3)).toString(), "ok;");
  });

  it("accepts new connections while blackholed but forwards nothing until it ends", async () => {
    proxy.blackhole(true);
    let connectionEvents = 0;
    proxy.events.on("connection", () => connectionEvents++);
    const socket = await connectClient(proxy.port);
    clients.push(socket);
    const rx = new Receiver(socket);
    const lost = "HELLO-INTO-THE-VOID;";
    const drop = dropped(proxy, "client->upstream", lost.length);
    socket.write(lost);
    await drop;
    assert.equal(proxy.connectionCount(), 1);
    assert.equal(echo.accepted, 0, "target must not see the connection while blackholed");
    assert.equal(connectionEvents, 0);

    const ready = once(proxy.events, "connection");
    proxy.blackhole(false);
    await ready;
    socket.write("now;");
    assert.equal((await rx.atLeast(4)).toString(), "now;");
    assert.equal(echo.accepted, 1);
    assert.equal(rx.closed, false);
  });

  it("a FIN sent around a blackhole is not lost", async () => {
    const { socket, rx } = await client();
    const serverSide = [...echo.sockets][0];
    let serverEnded = false;
    serverSide.on("end", () => {
      serverEnded = true;
    });
    proxy.blackhole(true);
    socket.end(); // half-close; the echo server answers with its own FIN once it sees ours
    // If the proxy reads the FIN while blackholed it holds it back; either way it must be passed
    // on (not lost) once the blackhole ends.
    proxy.blackhole(false);
    const got = await rx.untilEnd();
    assert.equal(got.length, 0);
    assert.equal(serverEnded, true);
  });

  it("cut() resets every connection on both legs", async () => {
    const a = await client();
    const b = await client();
    assert.equal(proxy.connectionCount(), 2);
    assert.equal(echo.sockets.size, 2);
    const serverSides = [...echo.sockets].map(closeOf);
    const pairsClosed = new Promise<void>((resolve) => {
      let n = 0;
      proxy.events.on("close", () => {
        if (++n === 2) resolve();
      });
    });
    const aClosed = closeOf(a.socket);
    const bClosed = closeOf(b.socket);

    proxy.cut();
    assert.equal(proxy.connectionCount(), 0);
    await Promise.all([aClosed, bClosed, pairsClosed, ...serverSides]);
    assert.equal(proxy.connectionCount(), 0);
    assert.equal(a.rx.ended, false, "a cut must not look like a clean FIN");
    assert.equal(a.rx.error?.message.includes("ECONNRESET"), true, `expected ECONNRESET, got ${a.rx.error}`);

    // The proxy keeps working for new connections.
    const c = await client();
    c.socket.write("still alive");
    assert.equal((await c.rx.atLeast(11)).toString(), "still alive");
  });

  it("refuse(true) resets new connections; refuse(false) lets them through again", async () => {
    proxy.refuse(true);
    const socket = connect({ host: "127.0.0.1", port: proxy.port });
    clients.push(socket);
    const rx = new Receiver(socket);
    await closeOf(socket);
    assert.equal(rx.ended, false);
    assert.ok(rx.error, "refused connection must error");
    assert.equal(proxy.connectionCount(), 0);
    assert.equal(echo.accepted, 0);

    proxy.refuse(false);
    const c = await client();
    c.socket.write("ping");
    assert.equal((await c.rx.atLeast(4)).toString(), "ping");
  });

  it("when the target goes away abruptly the client is reset", async () => {
    const { socket, rx } = await client();
    const serverSide = [...echo.sockets][0];
    const closed = closeOf(socket);
    serverSide.resetAndDestroy();
    await closed;
    assert.equal(rx.ended, false);
    assert.equal(rx.error?.message.includes("ECONNRESET"), true, `expected ECONNRESET, got ${rx.error}`);
  });

  it("close() resolves, closes open connections and stops listening", async () => {
    const { socket } = await client();
    const closed = closeOf(socket);
    await proxy.close();
    await closed;
    assert.equal(proxy.connectionCount(), 0);
    const late = connect({ host: "127.0.0.1", port: proxy.port });
    const [err] = (await once(late, "error")) as [NodeJS.ErrnoException];
    assert.equal(err.code, "ECONNREFUSED");
    await proxy.close(); // idempotent (afterEach calls it again too)
  });
});
