// @matrix: smoke
/**
 * The ping and echo capabilities' smoke test (docs/protocol.md §8–9), run on every engine
 * combination: a ping round trip, an echo answered while waiting, and durable echoes queued
 * while the agent is down answered exactly once when it is back.
 * The whole story is in tests/e2e/delivery.test.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  type AgentHandle,
  cleanupTempDirs,
  device,
  enrollOnline,
  type ServerHandle,
  startAgent,
  startServer,
  waitFor,
} from "./harness.js";

const NAME = "smoke-ping-1";

describe("smoke: ping and echo", () => {
  let server: ServerHandle;
  let agent: AgentHandle | undefined;
  before(async () => {
    server = await startServer();
    agent = (await enrollOnline(server, { name: NAME })).agent;
  });
  after(async () => {
    await agent?.stop();
    await server?.stop();
    await cleanupTempDirs();
  });

  test("a ping is answered; an echo comes back while the caller waits", async () => {
    const ping = await server.api.call<{ rttMs: number }>("POST", `/api/v1/devices/${NAME}/ping`, {});
    assert.ok(ping.rttMs > 0);
    const e = await server.api.call<{ data: string }>("POST", `/api/v1/devices/${NAME}/echo`, {
      data: "hello",
      waitMs: 10_000,
    });
    assert.equal(e.data, "hello");
  });

  test("echoes queued while the agent is down are answered once it is back, each exactly once", async () => {
    await agent!.stop();
    await waitFor(async () => !(await device(server.api, NAME)).online, "offline after goodbye");
    const sent = ["queued-1", "queued-2", "queued-3"];
    for (const data of sent) {
      const r = await server.api.request("POST", `/api/v1/devices/${NAME}/echo`, { data, waitMs: 0 });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    agent = startAgent({ dataDir: agent!.dataDir });
    const echoes = await waitFor(
      async () => {
        const rows = await server.api.call<{ ref: string; data: string }[]>(
          "GET",
          `/api/v1/devices/${NAME}/echoes`,
        );
        return sent.every((d) => rows.some((r) => r.data === d)) ? rows : undefined;
      },
      "the queued echoes answered",
      60_000,
    );
    for (const d of sent) assert.equal(echoes.filter((r) => r.data === d).length, 1, `${d} once`);
    assert.equal(new Set(echoes.map((r) => r.ref)).size, echoes.length, "no reply stored twice");
  });
});
