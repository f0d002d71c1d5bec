// @matrix: once
/**
 * PostgreSQL restarted under load (a private cluster, never the shared service): requests
 * fail cleanly with 503 while it is down, the server stays up, and everything recovers.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { PG_BIN, type PrivatePostgres, startPrivatePostgres } from "../support/postgres.js";
import { cleanupTempDirs, enrollOnline, freePort, startServer, TEST_DB, waitFor } from "./harness.js";

const SKIP =
  TEST_DB === "postgres"
    ? "runs once, in the first pass (it brings its own PostgreSQL)"
    : PG_BIN
      ? false
      : "PostgreSQL server binaries are not installed";
if (SKIP === "PostgreSQL server binaries are not installed" && process.env.CI) throw new Error(SKIP);

describe("PostgreSQL restart", { skip: SKIP }, () => {
  let pg: PrivatePostgres | undefined;
  const stops: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
    pg?.destroy();
    await cleanupTempDirs();
  });

  test("requests fail cleanly while the database is down and recover after, with the server up", async () => {
    pg = startPrivatePostgres(await freePort());
    const server = await startServer({ env: { TETHER_DATABASE_URL: pg.url } });
    stops.push(() => server.stop());
    const { agent } = await enrollOnline(server, { name: "pgr-1" });
    stops.push(() => agent.stop());

    let running = true;
    const results: { status: number; code?: string }[] = [];
    const load = (async () => {
      while (running) {
        // A fresh connection per request: a reused keep-alive socket can race its idle close,
        // which says nothing about the database.
        const r = await server.api.request("GET", "/api/v1/devices", undefined, { connection: "close" });
        results.push({ status: r.status, code: r.body?.error?.code });
      }
    })();
    await waitFor(() => results.length >= 20, "load running");
    pg.stop();
    const before = results.length;
    await waitFor(() => results.slice(before).some((r) => r.status === 503), "a refused request while down");
    pg.start();
    await waitFor(
      async () => (await server.api.request("GET", "/api/v1/devices")).status === 200,
      "recovery",
      60_000,
    );
    running = false;
    await load;

    const failures = results.filter((r) => r.status !== 200);
    assert.ok(failures.length > 0, "the outage was seen");
    for (const f of failures) {
      assert.deepEqual(
        f,
        { status: 503, code: "TETHER_ERR_STORE_UNAVAILABLE" },
        "every failure is a clean 503",
      );
    }
    assert.equal(server.proc.exitCode, null, "the server kept running");
    assert.match(server.stderr(), /database unavailable/);
    // The control channel and durable delivery work again.
    const echo = await waitFor(
      async () => {
        const r = await server.api.request("POST", "/api/v1/devices/pgr-1/echo", {
          data: "after-restart",
          waitMs: 5000,
        });
        return r.status === 200 ? r.body : undefined;
      },
      "echo after the restart",
      60_000,
    );
    assert.equal(echo.data, "after-restart");
  });
});
