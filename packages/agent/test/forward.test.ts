// @matrix: once
// Port forwarding on the device (docs/protocol.md §17.5): each tcp channel becomes a real TCP
// connection to a local server; the channel here is a fake (a Duplex with ready/fail), the
// sockets are real.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import net from "node:net";
import { Duplex, PassThrough } from "node:stream";
import { after, test } from "node:test";
import pino from "pino";
import { forward } from "../src/capabilities/forward/index.js";
import type { CapabilityPorts } from "../src/capability.js";
import type { AgentChannel, AgentTunnels, TcpHandler } from "../src/tunnels/index.js";

const log = pino({ level: "silent" });

/**
 * A channel as the tunnel layer gives it: `input` is what the server sends (the test writes
 * it; its end is the server's EOF), `output` is what the device sends back (its end is EOF).
 * Backpressure is real both ways (`output` is read only as the test consumes it).
 */
class FakeChannel extends Duplex implements AgentChannel {
  readonly id: number;
  readonly stderr = new PassThrough();
  readonly input = new PassThrough();
  readonly output = new PassThrough();
  state: "opening" | "ready" | "failed" = "opening";
  failure?: { code: string; message: string };
  /** Resolves at ready() or fail(), whichever comes (maybe synchronously inside the handler). */
  readonly opened: Promise<void>;
  private settle!: () => void;
  constructor(id: number) {
    super({ allowHalfOpen: true });
    this.id = id;
    this.opened = new Promise((r) => {
      this.settle = r;
    });
    this.input.on("data", (c: Buffer) => {
      if (!this.push(c)) this.input.pause();
    });
    this.input.on("end", () => this.push(null));
    this.input.pause();
  }
  override _read() {
    this.input.resume();
  }
  override _write(c: Buffer, _e: BufferEncoding, cb: (err?: Error | null) => void) {
    if (this.output.write(c)) cb();
    else this.output.once("drain", () => cb());
  }
  override _final(cb: (err?: Error | null) => void) {
    this.output.end();
    cb();
  }
  ready() {
    this.state = "ready";
    this.settle();
  }
  fail(code: string, message: string) {
    this.state = "failed";
    this.failure = { code, message };
    this.settle();
    this.destroy();
  }
  exit() {}
}

/** The forward module on a fake tunnel layer: returns the tcp handler it registered. */
function setup(opts: { maxConnections?: number } = {}) {
  let handler: TcpHandler | undefined;
  const tunnels: AgentTunnels = {
    onShell() {},
    onTcp: (h) => {
      handler = h;
    },
    dial() {},
    count: () => 0,
    closeAll() {},
  };
  const rt = forward.create({ log } as CapabilityPorts, { tunnels, ...opts });
  assert.ok(rt && handler, "the module registers a tcp handler");
  let next = 1;
  const open = async (port: number, o: { host?: string; allow?: string[] } = {}) => {
    const ch = new FakeChannel(next++);
    handler!({ id: "ses_aaaaaaaaaaaaaaaaaaaa", allow: o.allow ?? ["127.0.0.1:*"] }, ch, {
      host: o.host ?? "127.0.0.1",
      port,
    });
    await ch.opened;
    return ch;
  };
  return { rt, open };
}

const servers: net.Server[] = [];
const conns = new Set<net.Socket>();
after(() => {
  for (const s of servers) s.close();
  for (const c of conns) c.destroy();
});

async function listen(onConn: (s: net.Socket) => void): Promise<{ port: number; server: net.Server }> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    conns.add(s);
    s.once("close", () => conns.delete(s));
    onConn(s);
  });
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as net.AddressInfo).port, server };
}

async function readAll(r: PassThrough): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Resolves once the forwarder holds no connection (its sockets' 'close' come a tick after). */
async function settled(rt: { count(): number }, n = 0): Promise<void> {
  while (rt.count() > n) await new Promise((r) => setImmediate(r));
}

/** Resolves once the stream emitted 'close' (maybe already). */
async function closed(s: Duplex): Promise<void> {
  if (!s.closed) await once(s, "close");
}

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, "127.0.0.1");
  await once(s, "listening");
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

test("bytes go both ways, and half-close is carried each way", async () => {
  // The server answers only after the client's FIN: proves EOF → FIN, then its FIN → EOF.
  const { port } = await listen((s) => {
    const got: Buffer[] = [];
    s.on("data", (c) => got.push(c));
    s.on("end", () => s.end(`got:${Buffer.concat(got).toString()}`));
  });
  const { open } = setup();
  const ch = await open(port);
  assert.equal(ch.state, "ready");
  ch.input.write("hello ");
  ch.input.end("device");
  assert.equal((await readAll(ch.output)).toString(), "got:hello device");
  await closed(ch);
});

test("the destination speaks first and the channel stays open until the server's EOF", async () => {
  const { port } = await listen((s) => {
    s.write("banner\n");
    s.on("data", (c) => s.write(`echo:${c}`));
    s.on("end", () => s.end());
  });
  const { open } = setup();
  const ch = await open(port);
  const [banner] = await once(ch.output, "data");
  assert.equal(banner.toString(), "banner\n");
  ch.input.write("x");
  const [echo] = await once(ch.output, "data");
  assert.equal(echo.toString(), "echo:x");
  ch.input.end();
  await readAll(ch.output);
});

test("the destination's FIN first: the server may still send, and its bytes arrive", async () => {
  let received!: Promise<string>;
  const { port } = await listen((s) => {
    s.end("bye\n"); // the destination is done talking, but still listens
    const got: Buffer[] = [];
    s.on("data", (c) => got.push(c));
    received = once(s, "end").then(() => Buffer.concat(got).toString());
  });
  const { open } = setup();
  const ch = await open(port);
  assert.equal((await readAll(ch.output)).toString(), "bye\n", "EOF from the destination ends the output");
  ch.input.end("still here");
  assert.equal(await received, "still here");
});

test("a large transfer through an echo server arrives intact (sha256)", async () => {
  const { port } = await listen((s) => s.pipe(s));
  const { open } = setup();
  const ch = await open(port);
  const data = randomBytes(16 * 1024 * 1024);
  const sent = createHash("sha256").update(data).digest("hex");
  const received = readAll(ch.output);
  for (let i = 0; i < data.length; i += 65536) {
    if (!ch.input.write(data.subarray(i, i + 65536))) await once(ch.input, "drain");
  }
  ch.input.end();
  const back = await received;
  assert.equal(back.length, data.length);
  assert.equal(createHash("sha256").update(back).digest("hex"), sent);
});

test("a refused port fails the channel with FORWARD_FAILED and names the destination", async () => {
  const port = await freePort();
  const { open, rt } = setup();
  const ch = await open(port);
  assert.equal(ch.state, "failed");
  assert.equal(ch.failure?.code, "TETHER_ERR_FORWARD_FAILED");
  assert.match(ch.failure?.message ?? "", new RegExp(`127\\.0\\.0\\.1:${port} refused on the device`));
  await closed(ch);
  await settled(rt);
});

test("a host that does not resolve fails with 'not found'", async () => {
  const { open } = setup();
  const ch = await open(80, { host: "no-such-host.invalid", allow: ["no-such-host.invalid:*"] });
  assert.equal(ch.failure?.code, "TETHER_ERR_FORWARD_FAILED");
  assert.match(ch.failure?.message ?? "", /no-such-host\.invalid not found on the device/);
});

test("a destination off the session's allow-list is refused without connecting", async () => {
  let connections = 0;
  const { port } = await listen((s) => {
    connections++;
    s.destroy();
  });
  const { open } = setup();
  const ch = await open(port, { allow: ["localhost:*", "127.0.0.1:1-1024"] });
  assert.equal(ch.state, "failed");
  assert.equal(ch.failure?.code, "TETHER_ERR_FORWARD_NOT_ALLOWED");
  assert.match(ch.failure?.message ?? "", /not on the project's forward allow-list/);
  assert.equal(connections, 0);
});

test("an IPv6 destination in brackets connects", async (t) => {
  const server = net.createServer((s) => s.end("six"));
  servers.push(server);
  server.listen(0, "::1");
  const [err] = await Promise.race([
    once(server, "listening").then(() => [undefined]),
    once(server, "error"),
  ]);
  if (err) return t.skip("no IPv6 loopback here");
  const { port } = server.address() as net.AddressInfo;
  const { open } = setup();
  const ch = await open(port, { host: "[::1]", allow: ["[::1]:*"] });
  assert.equal(ch.state, "ready");
  ch.input.end();
  assert.equal((await readAll(ch.output)).toString(), "six");
});

test("the server closing the channel drops the TCP connection", async () => {
  const closed: Promise<unknown>[] = [];
  const { port } = await listen((s) => {
    closed.push(once(s, "close"));
    s.resume();
    s.on("end", () => s.end());
  });
  const { open, rt } = setup();
  const ch = await open(port);
  ch.input.write("x");
  ch.destroy();
  while (closed.length === 0) await new Promise((r) => setImmediate(r));
  await closed[0];
  await settled(rt);
});

test("the destination resetting the connection closes the channel", async () => {
  const { port } = await listen((s) => s.resetAndDestroy());
  const { open } = setup();
  const ch = await open(port);
  ch.output.resume();
  await closed(ch);
  assert.ok(ch.destroyed);
});

test("the device caps forwarded connections open at once, and frees a slot when one closes", async () => {
  const { port } = await listen((s) => s.resume());
  const { open, rt } = setup({ maxConnections: 2 });
  const a = await open(port);
  const b = await open(port);
  assert.deepEqual([a.state, b.state], ["ready", "ready"]);
  const c = await open(port);
  assert.equal(c.state, "failed");
  assert.equal(c.failure?.code, "TETHER_ERR_FORWARD_FAILED");
  assert.match(c.failure?.message ?? "", /already has 2 forwarded connections open/);
  a.destroy();
  await settled(rt, 1);
  const d = await open(port);
  assert.equal(d.state, "ready");
  rt.closeAll();
  await Promise.all([closed(b), closed(d)]);
});
