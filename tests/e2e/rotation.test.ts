// @matrix: once
/** Key rotation on a timer, and MQTT over WebSocket at /mqtt on the HTTPS port. */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import {
  cleanupTempDirs,
  enrollOnline,
  type ServerHandle,
  startServer,
  TEST_BROKER,
  waitFor,
} from "./harness.js";

const keyIds = (log: string) =>
  [...log.matchAll(/"keyId":"([0-9a-f]{16})","msg":"control channel ready"/g)].map((m) => m[1]);

describe("rotation and transports", () => {
  const stops: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
    await cleanupTempDirs();
  });

  test("keys rotate on the timer; the channel keeps working across rotations, without a reconnect", async () => {
    const server: ServerHandle = await startServer({ env: { TETHER_REKEY_SECONDS: "1" } });
    stops.push(() => server.stop());
    const { agent } = await enrollOnline(server, { name: "rot-1" });
    stops.push(() => agent.stop());
    // Wait for three fresh keys, each announced by the agent after a completed handshake.
    await waitFor(() => keyIds(agent.stderr()).length >= 4, "three rotations", 60_000);
    const ids = keyIds(agent.stderr());
    assert.equal(new Set(ids).size, ids.length, "every rotation yields a new key id");
    for (let i = 0; i < 5; i++) {
      const r = await server.api.call<{ rttMs: number }>("POST", "/api/v1/devices/rot-1/ping", {});
      assert.ok(r.rttMs > 0);
    }
    const e = await server.api.call<{ data: string }>("POST", "/api/v1/devices/rot-1/echo", {
      data: "after-rotation",
      waitMs: 10_000,
    });
    assert.equal(e.data, "after-rotation");
    const conns = await server.api.call<any[]>("GET", "/api/v1/devices/rot-1/connections");
    assert.equal(conns.length, 1, "rotation happens inside one connection");
  });

  const WS_SKIP =
    TEST_BROKER === "mosquitto"
      ? "MQTT over WebSocket at /mqtt is served by the embedded broker only; Mosquitto transport is covered by tests/e2e/mosquitto.test.ts"
      : false;
  test("an agent can use MQTT over WebSocket at /mqtt on the HTTPS port", { skip: WS_SKIP }, async () => {
    const server: ServerHandle = await startServer();
    stops.push(() => server.stop());
    const { agent } = await enrollOnline(server, { name: "ws-1", env: { AGENT_WS: "1" } });
    stops.push(() => agent.stop());
    assert.match(agent.stderr(), /"url":"wss:\/\/127\.0\.0\.1:\d+\/mqtt","msg":"connected to broker"/);
    const r = await server.api.call<{ rttMs: number }>("POST", "/api/v1/devices/ws-1/ping", {});
    assert.ok(r.rttMs > 0);
  });
});
