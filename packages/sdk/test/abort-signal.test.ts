// @matrix: once
// One AbortSignal shared by many requests (the client's `signal`, a followCommand caller's):
// each request adds its abort listener and removes it when it ends, so the count stays flat
// (no MaxListenersExceededWarning however many requests), and an abort still ends the request
// in flight. Checked with the node:https/http transport against a real socket, the fetch
// transport, and the event stream.
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { commandFixture, sseFrame, zeroSummary } from "../../../tests/support/exec-fixtures.js";
import { fetchTransport, TetherClient, type Transport } from "../src/index.js";
import { nodeTransport } from "../src/node.js";

const listeners = (s: AbortSignal) => getEventListeners(s, "abort").length;

/** Answers [] at once, except /api/v1/auth/me, which never answers (until the socket closes). */
let server: http.Server;
let url: string;
const hung = new Set<http.ServerResponse>();
let closedHung = 0;
let onClosedHung: (() => void) | undefined;
/** Called as each quick request reaches the server (it is in flight then). */
let onArrive: (() => void) | undefined;

before(async () => {
  server = http.createServer((req, res) => {
    if (req.url === "/api/v1/auth/me") {
      hung.add(res);
      req.socket.on("close", () => {
        hung.delete(res);
        closedHung++;
        onClosedHung?.();
      });
      return;
    }
    onArrive?.();
    res.setHeader("content-type", "application/json");
    res.end("[]");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const r of hung) r.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

test("node transport: 50 requests on one signal leave no listener behind", async () => {
  const ctl = new AbortController();
  const c = new TetherClient({ url, token: "t", transport: nodeTransport(), signal: ctl.signal });
  let most = 0;
  onArrive = () => {
    most = Math.max(most, listeners(ctl.signal));
  };
  for (let i = 0; i < 50; i++) {
    assert.deepEqual(await c.listDevices(), []);
    assert.equal(listeners(ctl.signal), 0, `after request ${i + 1}`);
  }
  onArrive = undefined;
  assert.ok(most >= 1 && most <= 2, `a request in flight listens to the signal (${most})`);
  // Many at once: each holds its own listener only while it runs.
  await Promise.all(Array.from({ length: 50 }, () => c.listDevices()));
  assert.equal(listeners(ctl.signal), 0);
});

test("node transport: an abort ends the request in flight and closes its socket", async () => {
  const ctl = new AbortController();
  const c = new TetherClient({ url, token: "t", transport: nodeTransport(), signal: ctl.signal });
  const before = closedHung;
  const socketClosed = new Promise<void>((r) => {
    onClosedHung = () => r();
  });
  const p = c.me();
  // Abort once the server holds the request (it never answers).
  await new Promise<void>((r) => {
    const poll = () => (hung.size > 0 ? r() : setImmediate(poll));
    poll();
  });
  ctl.abort();
  await assert.rejects(p, (e: Error) => e.name === "AbortError");
  await socketClosed;
  assert.equal(closedHung, before + 1, "the transport destroyed the request");
  assert.equal(listeners(ctl.signal), 0);
  // An aborted client refuses further requests at once, without a network call.
  await assert.rejects(c.listDevices(), (e: Error) => e.name === "AbortError");
});

test("fetch transport: fetch sees a per-request signal; the shared one keeps no listener", async () => {
  const ctl = new AbortController();
  const seen: AbortSignal[] = [];
  let hold: (() => void) | undefined;
  const t: Transport = fetchTransport(async (_url, init) => {
    seen.push(init.signal);
    if (hold === undefined && seen.length === 51) {
      // The 51st request hangs until its (inner) signal aborts, like fetch.
      await new Promise<void>((_resolve, reject) => {
        hold = () => {};
        init.signal.addEventListener("abort", () => reject(init.signal.reason), { once: true });
      });
    }
    return { status: 200, headers: new Map(), text: async () => "[]" };
  });
  const c = new TetherClient({ url: "https://x", token: "t", transport: t, signal: ctl.signal });
  for (let i = 0; i < 50; i++) await c.listDevices();
  assert.equal(listeners(ctl.signal), 0);
  assert.equal(new Set(seen).size, 50, "each request has its own signal");
  assert.ok(!seen.includes(ctl.signal), "the shared signal never reaches fetch");
  const p = c.listDevices();
  await new Promise<void>((r) => {
    const poll = () => (hold ? r() : setImmediate(poll));
    poll();
  });
  ctl.abort();
  await assert.rejects(p, (e: Error) => e.name === "AbortError");
  assert.equal(seen[50].aborted, true, "the abort reached fetch");
  assert.equal(listeners(ctl.signal), 0);
});

test("event streams: 50 on one caller signal leave no listener; an abort ends one in flight", async () => {
  const done = { type: "done", command: commandFixture({ argv: ["true"], summary: zeroSummary() }) };
  let hang = false;
  let streamSignal: AbortSignal | undefined;
  const t: Transport = async () => ({ status: 200, headers: {}, setCookies: [], body: "{}" });
  t.stream = async (_req, onText, signal) => {
    streamSignal = signal;
    if (hang) {
      await new Promise<void>((r) => signal.addEventListener("abort", () => r(), { once: true }));
      return { status: 200, body: "" };
    }
    await Promise.resolve();
    onText(sseFrame("done", done));
    return { status: 200, body: "" };
  };
  const ctl = new AbortController();
  const clientCtl = new AbortController();
  const c = new TetherClient({ url: "https://x", token: "t", transport: t, signal: clientCtl.signal });
  for (let i = 0; i < 50; i++) {
    const cmd = await c.followCommand("cmd_1", () => {}, { signal: ctl.signal });
    assert.equal(cmd.id, "cmd_1");
    assert.equal(listeners(ctl.signal), 0, `caller signal after stream ${i + 1}`);
    assert.equal(listeners(clientCtl.signal), 0, `client signal after stream ${i + 1}`);
  }
  hang = true;
  const p = c.followCommand("cmd_1", () => {}, { signal: ctl.signal });
  await new Promise<void>((r) => {
    const poll = () => (streamSignal && listeners(ctl.signal) > 0 ? r() : setImmediate(poll));
    poll();
  });
  ctl.abort();
  await assert.rejects(p, (e: Error) => e.name === "AbortError");
  assert.equal(streamSignal?.aborted, true, "the stream was told to stop");
  assert.equal(listeners(clientCtl.signal), 0);
});
