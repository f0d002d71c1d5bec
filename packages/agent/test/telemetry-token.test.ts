// @matrix: once
// The device telemetry token on the agent (docs/protocol.md §14.1): stored durably (0600)
// before the `telemetry.token` ack; a new token is tried first and promoted on a 200; a 401
// on it falls back to the current one; a 401 on every token keeps the data and waits for a
// new token; a bad token is refused.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import pino from "pino";
import { capabilities } from "../src/capabilities.js";
import type { CapabilityPorts } from "../src/capability.js";
import { telemetry } from "../src/capabilities/telemetry/index.js";
import { createTelemetry, type TelemetryLayerOptions } from "../src/telemetry/index.js";
import {
  delivered,
  makeCert,
  metricsBatch,
  TelemetryTestServer,
  tokenOf,
  until,
} from "./telemetry-test-server.js";

const tls = makeCert();
const T0 = 1_760_000_000_000;
const A = tokenOf("A");
const B = tokenOf("B");
const C = tokenOf("C");

async function setup(t: import("node:test").TestContext) {
  const server = new TelemetryTestServer(tls);
  await server.start();
  const dataDir = mkdtempSync(join(tmpdir(), "tether-tel-"));
  let clock = T0;
  const layers: ReturnType<typeof createTelemetry>[] = [];
  const open = (o: Partial<TelemetryLayerOptions> = {}) => {
    const layer = createTelemetry({
      dataDir,
      deviceId: "dev_tok",
      apiUrl: server.url,
      caCert: tls.cert,
      log: pino({ level: "silent" }),
      now: () => clock,
      retry: { baseMs: 10, maxMs: 50 },
      ...o,
    });
    layers.push(layer);
    return layer;
  };
  const tokenFile = () => JSON.parse(readFileSync(join(dataDir, "telemetry.json"), "utf8"));
  t.after(async () => {
    for (const l of layers) await l.stop();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { server, dataDir, open, tokenFile, tick: (ms: number) => (clock += ms) };
}

test("rotation: the next token is tried first and promoted on a 200; a 401 on it falls back to the current one", async (t) => {
  const { server, open, tokenFile, tick, dataDir } = await setup(t);
  const tel = open();
  tel.storeToken(A);
  assert.deepEqual(tokenFile(), { next: A });
  assert.equal(statSync(join(dataDir, "telemetry.json")).mode & 0o777, 0o600);
  server.tokens.add(A);
  tel.start();
  const w = tel.stream("metrics");
  w.append(metricsBatch(T0));
  await delivered(server, tel, 1, "batch 1");
  assert.deepEqual(tokenFile(), { current: A }, "promoted by the 200");

  // B delivered; the server accepts both until it has the ack.
  tel.storeToken(B);
  assert.deepEqual(tokenFile(), { current: A, next: B });
  server.tokens.add(B);
  w.append(metricsBatch(T0 + 3000));
  await delivered(server, tel, 2, "batch 2");
  assert.equal(server.received.at(-1)?.token, B, "the new token first");
  assert.deepEqual(tokenFile(), { current: B });

  // C delivered but not yet known to the server: a 401 with C, then B, the batch stored once.
  tel.storeToken(C);
  w.append(metricsBatch(T0 + 6000));
  await delivered(server, tel, 3, "batch 3");
  assert.deepEqual(
    server.received.slice(-2).map((r) => [r.token, r.status]),
    [
      [C, 401],
      [B, 200],
    ],
  );
  assert.deepEqual(tokenFile(), { current: B, next: C }, "C is kept for later");
  // Within the minute after the refusal, B goes first (no 401 per batch).
  w.append(metricsBatch(T0 + 9000));
  await delivered(server, tel, 4, "batch 4");
  assert.deepEqual(server.received.at(-1)?.token, B);
  // The server learned C; a minute later C is tried first again and promoted.
  server.tokens.add(C);
  tick(61_000);
  w.append(metricsBatch(T0 + 12_000));
  await delivered(server, tel, 5, "batch 5");
  assert.equal(server.received.at(-1)?.token, C);
  assert.deepEqual(tokenFile(), { current: C });
  assert.deepEqual(
    server.stored.map((b) => b.seq),
    [1, 2, 3, 4, 5],
  );
});

test("every token refused: the data is kept and the uploads wait for a new token", async (t) => {
  const { server, open } = await setup(t);
  const tel = open();
  tel.storeToken(A); // the server does not know A (revoked, say)
  tel.start();
  tel.stream("metrics").append(metricsBatch(T0));
  await until(() => /token refused/.test(tel.status().lastError ?? ""), "the refusal");
  await tel.flush();
  assert.equal(tel.status().pending.metrics, 1, "nothing dropped");
  assert.equal(server.stored.length, 0);
  server.tokens.add(B);
  tel.storeToken(B); // wakes the uploader at once, whatever its backoff
  await delivered(server, tel, 1, "the batch with the new token");
  assert.equal(server.stored[0].seq, 1);
});

test("the ingest URL given with the token is used; a non-HTTPS one never is; bad tokens are refused", async (t) => {
  const { server, open, tokenFile } = await setup(t);
  server.tokens.add(A);
  const tel = open({ apiUrl: "https://127.0.0.1:9" }); // nothing listens there
  assert.throws(() => tel.storeToken("short"), /malformed/);
  assert.throws(() => tel.storeToken(`${A}!`), /malformed/);
  tel.storeToken(A, `${server.url}/api/v1/telemetry/batches`);
  assert.deepEqual(tokenFile(), { next: A, url: `${server.url}/api/v1/telemetry/batches` });
  tel.start();
  tel.stream("metrics").append(metricsBatch(T0));
  await delivered(server, tel, 1, "the batch at the given URL");

  tel.storeToken(A, `http://127.0.0.1:${server.port}/api/v1/telemetry/batches`);
  tel.stream("metrics").append(metricsBatch(T0 + 3000));
  await until(() => tel.status().lastError?.includes("ECONNREFUSED") === true, "the API URL tried instead");
  assert.equal(server.received.length, 1, "the token never went over plain HTTP");
});

test("capability: `telemetry.token` stores the token before its handler returns (the ack follows)", async (t) => {
  const { open, tokenFile } = await setup(t);
  const tel = open();
  assert.ok(capabilities.includes(telemetry), "listed once in capabilities.ts");
  const ports = { log: pino({ level: "silent" }) } as unknown as CapabilityPorts;
  const rt = telemetry.create(ports, { telemetry: tel });
  assert.deepEqual(await telemetry.handlers["telemetry.token"](rt, { token: B }), []);
  assert.deepEqual(tokenFile(), { next: B });
  // An agent built without the layer refuses the message (no ack: the server re-sends it).
  const bare = telemetry.create(ports, undefined);
  await assert.rejects(
    async () => telemetry.handlers["telemetry.token"](bare, { token: C }),
    /no telemetry layer/,
  );
  assert.deepEqual(tokenFile(), { next: B });
});
