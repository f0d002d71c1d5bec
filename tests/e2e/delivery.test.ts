// @matrix: store broker
/**
 * Delivery that survives restarts and silent drops (docs/protocol.md §8): durable echoes
 * ride both outboxes; every one is answered exactly once whatever dies in between.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import {
  cleanupTempDirs,
  device,
  enrollBehindProxy,
  enrollOnline,
  freePort,
  type ServerHandle,
  startAgent,
  startServer,
  waitFor,
} from "./harness.js";

interface Echo {
  ref: string;
  data: string;
}

async function echoes(server: ServerHandle, name: string): Promise<Echo[]> {
  return server.api.call<Echo[]>("GET", `/api/v1/devices/${name}/echoes`);
}

/** One more echo answered proves every earlier message was processed (per-device order). */
async function drain(server: ServerHandle, name: string): Promise<void> {
  await waitFor(
    async () => {
      const r = await server.api.request("POST", `/api/v1/devices/${name}/echo`, {
        data: "barrier",
        waitMs: 5000,
      });
      return r.status === 200;
    },
    "barrier echo",
    60_000,
  );
}

function assertExactlyOnce(got: Echo[], sent: string[]): void {
  const datas = got.map((e) => e.data).filter((d) => d !== "barrier");
  assert.deepEqual([...datas].sort(), [...sent].sort(), "every message answered exactly once");
  assert.equal(new Set(got.map((e) => e.ref)).size, got.length, "no reply stored twice");
}

describe("delivery", () => {
  const running: { stop(): Promise<unknown> }[] = [];
  after(async () => {
    for (const r of running.reverse()) await r.stop().catch(() => {});
    await cleanupTempDirs();
  });

  test("messages queued while the agent is down survive a server kill -9 and arrive once", async () => {
    const httpPort = await freePort();
    const mqttPort = await freePort();
    let server = await startServer({ httpPort, mqttPort });
    const { agent } = await enrollOnline(server, { name: "dur-1" });
    await agent.kill();
    await waitFor(async () => !(await device(server.api, "dur-1")).online, "offline after kill");
    const sent = Array.from({ length: 10 }, (_, i) => `queued-${i}`);
    for (const data of sent) {
      const r = await server.api.request("POST", "/api/v1/devices/dur-1/echo", { data, waitMs: 0 });
      assert.equal(r.status, 200);
    }
    await server.kill();
    server = await startServer({ dataDir: server.dataDir, httpPort, mqttPort });
    running.push(server);
    const again = startAgent({ dataDir: agent.dataDir });
    running.push(again);
    await waitFor(
      async () => (await echoes(server, "dur-1")).length >= sent.length,
      "queued echoes answered",
      60_000,
    );
    await drain(server, "dur-1");
    assertExactlyOnce(await echoes(server, "dur-1"), [...sent]);
    await again.stop();
    await server.stop();
  });

  test("a server killed with 20 messages in flight loses none and duplicates none", async () => {
    const httpPort = await freePort();
    const mqttPort = await freePort();
    let server = await startServer({ httpPort, mqttPort });
    const { agent } = await enrollOnline(server, { name: "dur-2" });
    running.push(agent);
    const sent = Array.from({ length: 20 }, (_, i) => `inflight-${i}`);
    await Promise.all(
      sent.map((data) => server.api.call("POST", "/api/v1/devices/dur-2/echo", { data, waitMs: 0 })),
    );
    await server.kill(); // replies may be in the air, half-stored, or not yet sent
    server = await startServer({ dataDir: server.dataDir, httpPort, mqttPort });
    running.push(server);
    await waitFor(async () => (await device(server.api, "dur-2")).online, "agent back online", 90_000);
    await drain(server, "dur-2");
    assertExactlyOnce(await echoes(server, "dur-2"), sent);
    await agent.stop();
    await server.stop();
  });

  test("an agent killed -9 and restarted re-handshakes and neither loses nor repeats messages", async () => {
    const server = await startServer();
    running.push(server);
    const { agent } = await enrollOnline(server, { name: "dur-3" });
    const sent = Array.from({ length: 20 }, (_, i) => `agent-kill-${i}`);
    await Promise.all(
      sent.map((data) => server.api.call("POST", "/api/v1/devices/dur-3/echo", { data, waitMs: 0 })),
    );
    await agent.kill();
    const again = startAgent({ dataDir: agent.dataDir });
    running.push(again);
    await drain(server, "dur-3");
    assertExactlyOnce(await echoes(server, "dur-3"), sent);
    await again.stop();
  });

  test("a silent network drop is noticed by both sides; messages sent meanwhile arrive once", async () => {
    const server = await startServer();
    running.push(server);
    // The agent reaches the broker through a fault-injecting proxy.
    const { agent: a2, proxy } = await enrollBehindProxy(server, {
      name: "drop-1",
      env: { AGENT_KEEPALIVE: "2", AGENT_BACKOFF_MAX_MS: "2000" },
    });
    running.push({ stop: () => proxy.close() }, a2);
    proxy.blackhole(true);
    // The broker notices the silence (1.5 x keepalive) and the device goes offline.
    await waitFor(
      async () => !(await device(server.api, "drop-1")).online,
      "offline after silent drop",
      60_000,
    );
    const sent = Array.from({ length: 5 }, (_, i) => `during-drop-${i}`);
    for (const data of sent)
      await server.api.call("POST", "/api/v1/devices/drop-1/echo", { data, waitMs: 0 });
    // The agent notices too, and keeps retrying with backoff.
    await waitFor(
      () => /disconnected; reconnecting after backoff/.test(a2.stderr()),
      "agent notices the drop",
      60_000,
    );
    proxy.blackhole(false);
    proxy.cut(); // connections opened during the outage are stale: drop them as a router reboot would
    await waitFor(async () => (await device(server.api, "drop-1")).online, "back online", 90_000);
    await drain(server, "drop-1");
    assertExactlyOnce(await echoes(server, "drop-1"), sent);
    const conns = await server.api.call<any[]>("GET", "/api/v1/devices/drop-1/connections");
    assert.ok(conns.some((c) => c.reason === "socket closed" || c.reason === "connection lost"));
    await a2.stop();
    await proxy.close();
  });
});
