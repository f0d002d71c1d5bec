// @matrix: store
/**
 * External broker resilience (docs/architecture.md §2, §6): Mosquitto restarted under load, and a
 * dynamic-security command that fails half-way because the broker is down. In-process server
 * (createServer with broker: {url, adminFile}), real agent processes with a short backoff.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type InProcessServer,
  logged as loggedBy,
  startInProcessServer,
} from "../support/in-process-server.js";
import { type MosquittoHandle, mosquittoSkipReason, startMosquitto } from "../support/mosquitto.js";
import {
  type AgentHandle,
  cleanupTempDirs,
  createToken,
  device,
  startAgent,
  TEST_BROKER,
  tempDir,
  waitFor,
} from "./harness.js";

// Brings its own Mosquitto: runs in the embedded-broker passes (SQLite and PostgreSQL) only.
const skip =
  TEST_BROKER !== "embedded"
    ? "runs in the embedded-broker passes; it brings its own Mosquitto"
    : mosquittoSkipReason();
const AGENT_ENV = { AGENT_BACKOFF_MAX_MS: "2000" };

/** The pid of this handle's Mosquitto: the process whose command line names its config file. */
function mosquittoPid(mosq: MosquittoHandle): number {
  const conf = join(mosq.dir, "mosquitto.conf");
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
      if (argv.includes(conf)) return Number(p);
    } catch {
      /* gone */
    }
  }
  throw new Error(`no Mosquitto process runs ${conf}`);
}

/** Stop Mosquitto (SIGTERM, as restart() does) and leave it stopped; restart() starts it again. */
async function stopOnly(mosq: MosquittoHandle): Promise<void> {
  const pid = mosquittoPid(mosq);
  process.kill(pid, "SIGTERM");
  await waitFor(() => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }, "Mosquitto to exit");
  // Let the handle see the exit, so restart() only starts it.
  await new Promise((r) => setTimeout(r, 100));
}

describe("external broker: Mosquitto restarts and dynsec failures", { skip }, () => {
  let mosq: MosquittoHandle;
  let server: InProcessServer;
  const agents: AgentHandle[] = [];

  const startTether = () =>
    startInProcessServer({
      dataDir: join(tempDir(), "server"),
      broker: { url: mosq.url, adminFile: mosq.adminFile },
    });

  const online = async (name: string, agent: AgentHandle) => {
    if (agent.proc.exitCode !== null) throw new Error(`agent exited: ${agent.stderr().slice(-2000)}`);
    const r = await server.api.request("GET", `/api/v1/devices/${name}`);
    return r.status === 200 && r.body.online;
  };
  const logged = (msg: string, deviceId?: string) => loggedBy(server, msg, deviceId);

  before(async () => {
    mosq = await startMosquitto();
    server = await startTether();
  });
  after(async () => {
    for (const a of agents) await a.kill().catch(() => {});
    await server?.srv.close().catch(() => {});
    await mosq?.stop();
    await cleanupTempDirs();
  });

  test("Mosquitto restarted under load: the server link and the agent reconnect; 20 durable echoes arrive exactly once", async () => {
    const token = await createToken(server.api, { autoAccept: true });
    const agent = startAgent({
      dataDir: join(tempDir(), "agent"),
      url: server.url,
      token,
      name: "mr-1",
      env: AGENT_ENV,
    });
    agents.push(agent);
    await waitFor(() => online("mr-1", agent), "mr-1 online", 60_000);
    const connects = () => logged("server connected to the external broker").length;
    const before = connects();

    const sent = Array.from({ length: 20 }, (_, i) => `load-${i}`);
    // The restart starts while the echoes are still being queued and delivered: some are in
    // flight (published, not yet answered) when the broker goes away.
    const posts = sent.map((data) =>
      server.api.request("POST", "/api/v1/devices/mr-1/echo", { data, waitMs: 0 }),
    );
    await posts[4];
    await mosq.restart();
    for (const [i, r] of (await Promise.all(posts)).entries()) {
      assert.equal(r.status, 200, `echo ${sent[i]}: ${JSON.stringify(r.body)}`);
    }

    await waitFor(() => connects() > before, "the server's broker link to reconnect", 30_000);
    assert.ok(logged("lost the external broker; reconnecting").length > 0, "the link loss was logged");
    // The barrier: a fresh echo answered through the restarted broker (the agent reconnected
    // and handshook again; the outbox was re-sent after the handshake).
    await waitFor(
      async () => {
        const r = await server.api.request("POST", "/api/v1/devices/mr-1/echo", {
          data: "barrier",
          waitMs: 3000,
        });
        return r.status === 200 && r.body.data === "barrier";
      },
      "a barrier echo through the restarted broker",
      60_000,
    );
    const got = await waitFor(
      async () => {
        const rows = await server.api.call<{ ref: string; data: string }[]>(
          "GET",
          "/api/v1/devices/mr-1/echoes",
        );
        return sent.every((d) => rows.some((r) => r.data === d)) ? rows : undefined;
      },
      "all 20 replies stored",
      60_000,
    );
    for (const d of sent) {
      assert.equal(got.filter((r) => r.data === d).length, 1, `${d} stored exactly once`);
    }
    assert.equal(new Set(got.map((r) => r.ref)).size, got.length, "no reply stored twice");
    assert.match(mosq.log(), /mosquitto version .* running[\s\S]*mosquitto version .* running/);
    assert.equal((await device(server.api, "mr-1")).online, true);
  });

  test("a dynsec command failing half-way (broker down at accept): the next poll retries, the device connects", async () => {
    const token = await createToken(server.api, {});
    const agent = startAgent({
      dataDir: join(tempDir(), "agent"),
      url: server.url,
      token,
      name: "mr-2",
      env: AGENT_ENV,
    });
    agents.push(agent);
    const pending = await waitFor(async () => {
      const r = await server.api.request("GET", "/api/v1/devices/mr-2");
      return r.status === 200 && r.body.state === "pending" ? r.body : undefined;
    }, "mr-2 pending");

    await stopOnly(mosq);
    await server.api.call("POST", "/api/v1/devices/mr-2/accept");
    // The agent's next poll asks for the credential; the dynsec commands cannot reach the broker.
    await waitFor(
      () => logged("dynsec: not connected to the broker; retrying").length > 0,
      "a dynsec command failing for want of a broker",
      30_000,
    );
    await waitFor(
      () => logged("giving up").length > 0 || logged("request failed").length > 0,
      "the credential request to fail",
      60_000,
    );
    assert.equal((await device(server.api, "mr-2")).online, false);

    await mosq.restart();
    await waitFor(() => online("mr-2", agent), "mr-2 online after the broker came back", 90_000);
    assert.ok(
      logged("broker: device credential set", pending.id).length > 0,
      "credential set on a later poll",
    );
    assert.ok(logged("request failed").length > 0, "the failed poll was logged");
    const r = await server.api.request("POST", "/api/v1/devices/mr-2/echo", {
      data: "after",
      waitMs: 10_000,
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.data, "after");
  });
});
