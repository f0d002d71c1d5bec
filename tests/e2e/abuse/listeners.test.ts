// @matrix: once
/**
 * Abuse suite, listeners (issue 9 findings 1, 2, 6; docs/security.md "Listeners"): idle and
 * slow connections to the MQTT TLS port and the HTTPS port, oversized MQTT packets announced
 * by their fixed header, out-of-range keepalives, slow and unauthenticated HTTP bodies, and a
 * pile of idle sockets against a server whose hard open-file limit is 256.
 * Embedded broker only (the listeners under test are the server's own).
 */
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";
import mqttPacket from "mqtt-packet";
import { closeOf } from "../../support/net.js";
import { rssKiB } from "../../support/processes.js";
import { attempt, type DeviceCreds, readDeviceCreds } from "../../support/raw-device.js";
import {
  type AgentHandle,
  cleanupTempDirs,
  device,
  enrollOnline,
  type ServerHandle,
  startAgent,
  startServer,
  TEST_BROKER,
  waitFor,
} from "../harness.js";

const SKIP = TEST_BROKER === "mosquitto" ? "the embedded broker's listeners" : false;

/** Short limits so that timeouts show within the test (production defaults are seconds). */
const LIMITS = { preauthTimeoutMs: 1500, httpRequestTimeoutMs: 2000 };

/** Resolves with the value, or with `fallback` if `p` takes longer than `ms` (a bounded wait). */
function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(fallback), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      () => (clearTimeout(t), resolve(fallback)),
    );
  });
}

/** Resolves once `s` is closed (at once if it already is). */
const gone = (s: net.Socket) => (s.closed ? Promise.resolve() : closeOf(s));

function plainSocket(port: number): net.Socket {
  const s = net.connect(port, "127.0.0.1");
  s.on("error", () => {});
  return s;
}

async function tlsSocket(port: number, ca: string): Promise<tls.TLSSocket> {
  const s = tls.connect({ port, host: "127.0.0.1", ca, servername: "localhost", rejectUnauthorized: false });
  s.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    s.once("secureConnect", () => resolve());
    s.once("close", () => reject(new Error("closed before the TLS handshake finished")));
  });
  return s;
}

/** The MQTT remaining-length field. */
function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/**
 * Write zeros after `head` until the peer closes or `cap` bytes went out; returns how many
 * bytes were written and whether the peer closed.
 */
async function flood(
  s: tls.TLSSocket,
  head: Buffer,
  cap: number,
): Promise<{ sent: number; closed: boolean }> {
  let closed = s.destroyed;
  const gone = closeOf(s).then(() => {
    closed = true;
  });
  const chunk = Buffer.alloc(64 * 1024);
  let sent = 0;
  s.write(head);
  while (!closed && sent < cap) {
    sent += chunk.length;
    if (!s.write(chunk)) {
      await Promise.race([new Promise((r) => s.once("drain", r)), gone]);
    }
  }
  if (!closed) await within(gone, 5000, undefined);
  return { sent, closed };
}

/** A raw MQTT client (TLS) that has sent CONNECT with `creds` and received CONNACK 0. */
async function rawDevice(port: number, c: DeviceCreds): Promise<tls.TLSSocket> {
  const s = await tlsSocket(port, c.ca);
  s.write(
    mqttPacket.generate({
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: 4,
      clean: true,
      keepalive: 30,
      clientId: c.deviceId,
      username: c.username,
      password: Buffer.from(c.password),
    }),
  );
  const ack = await new Promise<Buffer>((resolve, reject) => {
    s.once("data", resolve);
    s.once("close", () => reject(new Error("closed before CONNACK")));
  });
  assert.deepEqual([...ack.subarray(0, 4)], [0x20, 0x02, 0x00, 0x00], "CONNACK accepted");
  return s;
}

describe("abuse: listeners", { skip: SKIP }, () => {
  let server: ServerHandle;
  let creds: DeviceCreds;

  before(async () => {
    server = await startServer({ env: { TETHER_LISTENER_LIMITS: JSON.stringify(LIMITS) } });
    const a = await enrollOnline(server, { name: "ls-a" });
    creds = readDeviceCreds(a.agent.dataDir);
    await a.agent.stop();
    await waitFor(async () => !(await device(server.api, "ls-a")).online, "ls-a offline");
  });
  after(async () => {
    await server?.stop();
  });

  test("plain TCP connections to the MQTT TLS port that never start TLS are closed", async () => {
    const socks = Array.from({ length: 20 }, () => plainSocket(server.mqttPort));
    const closed = await within(Promise.all(socks.map(gone)), 10_000, "open");
    for (const x of socks) x.destroy();
    assert.notEqual(closed, "open", "idle sockets to the MQTT port were still open");
  });

  test("MQTT over TLS without a CONNECT, and over WebSocket without a CONNECT, are closed", async () => {
    const t = await tlsSocket(server.mqttPort, server.ca);
    const ws = await tlsSocket(server.httpPort, server.ca);
    ws.write(
      "GET /mqtt HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
    );
    let upgraded = "";
    ws.on("data", (d) => {
      upgraded += d;
    });
    const closed = await within(Promise.all([gone(t), gone(ws)]), 10_000, "open");
    t.destroy();
    ws.destroy();
    assert.match(upgraded, /^HTTP\/1\.1 101 /, "the WebSocket upgrade was refused");
    assert.notEqual(
      closed,
      "open",
      `a connection that never sent CONNECT stayed open (TLS: ${t.closed}, WS: ${ws.closed})`,
    );
  });

  test("idle connections to the HTTPS port are closed before a request (plain TCP and after TLS)", async () => {
    const plain = Array.from({ length: 10 }, () => plainSocket(server.httpPort));
    const secured = await Promise.all(
      Array.from({ length: 10 }, () => tlsSocket(server.httpPort, server.ca)),
    );
    const all = [...plain, ...secured];
    const closed = await within(Promise.all(all.map(gone)), 10_000, "open");
    for (const x of all) x.destroy();
    assert.notEqual(closed, "open", "idle HTTPS connections were still open");
  });

  test("slow POST bodies (one byte at a time) are cut off by the request timeout", async () => {
    const socks = await Promise.all(Array.from({ length: 20 }, () => tlsSocket(server.httpPort, server.ca)));
    for (const s of socks) {
      s.write(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
          "Content-Length: 1000\r\n\r\n{",
      );
    }
    // The attack: one more byte of body every 250 ms on every socket, for as long as it is open.
    const drip = setInterval(() => {
      for (const s of socks) if (!s.destroyed) s.write(" ");
    }, 250);
    const closed = await within(Promise.all(socks.map(gone)), 12_000, "open");
    clearInterval(drip);
    for (const x of socks) x.destroy();
    assert.notEqual(closed, "open", "slow POST bodies were still being read");
  });

  test("an unauthenticated request is refused before its body is read", async () => {
    const s = await tlsSocket(server.httpPort, server.ca);
    let got = "";
    s.on("data", (c) => {
      got += c;
    });
    // A body is announced but never sent: the answer must not wait for it.
    s.write(
      "POST /api/v1/commands HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
        "Content-Length: 100000\r\n\r\n",
    );
    const status = await within(
      waitFor(() => /^HTTP\/1\.1 (\d{3})/.exec(got)?.[1], "a status line", 10_000),
      10_000,
      "none",
    );
    s.destroy();
    assert.equal(status, "401", `expected 401 before the body, got ${status}: ${got.slice(0, 300)}`);
    assert.match(got, /TETHER_ERR_UNAUTHENTICATED/);
  });

  test("a CONNECT announcing 200 MB is refused by its length, before authentication", async () => {
    const s = await tlsSocket(server.mqttPort, server.ca);
    const r = await flood(
      s,
      Buffer.concat([Buffer.from([0x10]), varint(200 * 1024 * 1024)]),
      64 * 1024 * 1024,
    );
    s.destroy();
    assert.ok(r.closed, `not disconnected after ${r.sent} bytes`);
    assert.ok(r.sent <= 8 * 1024 * 1024, `disconnected only after ${r.sent} bytes`);
  });

  test("an authenticated device announcing a 200 MB PUBLISH is disconnected; server RSS does not grow", async () => {
    const pid = server.proc.pid!;
    const s = await rawDevice(server.mqttPort, creds);
    const before = rssKiB(pid);
    const topic = Buffer.from(`tether/1/${creds.shard}/${creds.deviceId}/up`);
    const len = 200 * 1024 * 1024;
    const head = Buffer.concat([
      Buffer.from([0x32]), // PUBLISH, QoS 1
      varint(len),
      Buffer.from([topic.length >> 8, topic.length & 0xff]),
      topic,
      Buffer.from([0x00, 0x01]),
    ]);
    const r = await flood(s, head, 96 * 1024 * 1024);
    s.destroy();
    const afterKiB = rssKiB(pid);
    process.stdout.write(
      `# 200 MB PUBLISH: disconnected=${r.closed} after ${r.sent} bytes sent; server RSS ${Math.round(before / 1024)} -> ${Math.round(afterKiB / 1024)} MiB\n`,
    );
    assert.ok(r.closed, `not disconnected after ${r.sent} bytes`);
    assert.ok(r.sent <= 8 * 1024 * 1024, `disconnected only after ${r.sent} bytes`);
    assert.ok(afterKiB - before < 32 * 1024, `server RSS grew from ${before} to ${afterKiB} KiB`);
    await waitFor(() => /refused MQTT packet of 209715200 bytes/.test(server.stderr()), "the refusal logged");
  });

  test("a keepalive of 0 or above the cap is refused; 30 s is accepted", async () => {
    const as = (keepalive: number) =>
      attempt(creds.url, {
        clientId: creds.deviceId,
        username: creds.username,
        password: creds.password,
        ca: creds.ca,
        keepalive,
      });
    for (const k of [0, 3600]) {
      const r = await as(k);
      if (r.ok) r.client.end(true);
      assert.equal(r.ok, false, `keepalive ${k} was accepted`);
    }
    const ok = await as(30);
    assert.ok(ok.ok, `keepalive 30 refused: ${!ok.ok && ok.how}`);
    await ok.client.endAsync(true);
    await waitFor(
      () => /refused CONNECT: keepalive must be 1\.\.300 s/.test(server.stderr()),
      "the refusal logged",
    );
  });
});

describe("abuse: idle sockets against a server with a hard open-file limit of 256", { skip: SKIP }, () => {
  let server: ServerHandle;
  let agent: AgentHandle | undefined;
  const idle: net.Socket[] = [];

  before(async () => {
    // A long timeout: what must save the server here is the cap, not the timeout.
    server = await startServer({
      fdLimit: 256,
      env: { TETHER_LISTENER_LIMITS: JSON.stringify({ preauthTimeoutMs: 60_000 }) },
    });
    const a = await enrollOnline(server, { name: "fd-a" });
    await a.agent.stop();
    agent = a.agent;
    await waitFor(async () => !(await device(server.api, "fd-a")).online, "fd-a offline");
  });
  after(async () => {
    for (const s of idle) s.destroy();
    await agent?.kill();
    await server?.stop();
    await cleanupTempDirs();
  });

  test("400 idle plain-TCP sockets to the MQTT port: the HTTPS API and a new device connection still work", async () => {
    assert.match(server.stderr(), /open-file limit is 256 \(hard\), below 4096/);
    for (let i = 0; i < 400; i++) idle.push(plainSocket(server.mqttPort));
    await Promise.all(idle.map((s) => within(new Promise((r) => s.once("connect", r)), 5000, undefined)));
    // The server holds at most its cap of them (64 at this limit) and closed the oldest.
    await waitFor(
      () => idle.filter((s) => s.destroyed).length >= 400 - 64,
      "the oldest idle sockets closed",
      10_000,
    );
    assert.match(server.stderr(), /MQTT: too many connections waiting to authenticate/);

    const r = await within(server.api.request("GET", "/api/v1/devices"), 10_000, undefined);
    assert.equal(r?.status, 200, "the HTTPS API did not answer");

    agent = startAgent({ dataDir: agent!.dataDir });
    await waitFor(async () => (await device(server.api, "fd-a")).online, "fd-a online again", 15_000);
    assert.equal(server.proc.exitCode, null, "the server exited");
  });
});
