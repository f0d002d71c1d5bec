// @matrix: smoke
/**
 * The exec capability's smoke test (docs/protocol.md §13), run on every engine combination:
 * an agent enrolls, `tether exec` runs a command through the CLI (stdout, stderr, exit code),
 * a detached command is stored with its output and found in the history, and for an offline
 * device a queued command runs when it is back while one past its queue TTL expires unrun.
 * The whole story is in tests/e2e/exec-cli.test.ts and exec-durability.test.ts.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createCommand, finishedCommand, runOf } from "../support/api-lookups.js";
import { Cli, expectExit, stopClis } from "../support/cli-driver.js";
import {
  type AgentHandle,
  cleanupTempDirs,
  device,
  enrollOnline,
  type ServerHandle,
  startAgent,
  startServer,
  tempDir,
  waitFor,
} from "./harness.js";

const NAME = "smoke-exec-1";

describe("smoke: exec", () => {
  let server: ServerHandle;
  let cli: Cli;
  let agent: AgentHandle | undefined;
  before(async () => {
    // Expiry sweeps every 200 ms, so a 2 s queue TTL is seen to pass soon after.
    server = await startServer({ env: { TETHER_EXEC_SWEEP_MS: "200" } });
    cli = new Cli(server);
    agent = (await enrollOnline(server, { name: NAME })).agent;
  });
  after(async () => {
    stopClis();
    await agent?.stop();
    await server?.stop();
    await cleanupTempDirs();
  });

  test("tether exec passes stdout, stderr and the exit code through", async () => {
    const r = await cli.run(["exec", NAME, "--shell", "--", "echo out; echo err >&2; exit 3"]);
    expectExit(r, 3);
    assert.equal(r.stdout, "out\n");
    assert.match(r.stderr, /^err$/m);
  });

  test("a detached command is stored with its output; commands show and list find it", async () => {
    const d = await cli.run(["exec", NAME, "--detach", "--", "echo", "stored"]);
    expectExit(d, 0);
    const id = d.stdout.trim();
    assert.match(id, /^cmd_[a-z0-9]{20}$/);
    const done = await finishedCommand(server, id);
    assert.equal(done.runs?.[0].status, "succeeded");
    assert.equal(done.runs?.[0].stdout, "stored\n");
    const shown = await cli.json(["commands", "show", id]);
    assert.equal(shown.state, "done");
    assert.deepEqual(shown.argv, ["echo", "stored"]);
    const mine = await cli.json<any[]>(["commands", "list", "--device", NAME]);
    assert.equal(mine[0].id, id, "newest first");
  });

  test("offline: a queued command runs when the device is back; one past its queue TTL never runs", async () => {
    await agent!.stop();
    await waitFor(async () => !(await device(server.api, NAME)).online, "offline after goodbye");
    const work = tempDir("smoke-exec-");
    const later = join(work, "queued-ran");
    const never = join(work, "expired-ran");
    const queued = await createCommand(server, {
      devices: [NAME],
      argv: ["touch", later],
      queueTtlMs: 3_600_000,
    });
    const expiring = await createCommand(server, {
      devices: [NAME],
      argv: ["touch", never],
      queueTtlMs: 2000,
    });
    assert.equal(queued.runs?.[0].status, "queued");
    await waitFor(
      async () => (await runOf(server, expiring.id)).status === "expired",
      "the 2 s command expired",
    );
    assert.equal((await runOf(server, queued.id)).status, "queued", "the 1 h one still waits");
    agent = startAgent({ dataDir: agent!.dataDir });
    const ran = await finishedCommand(server, queued.id);
    assert.equal(ran.runs?.[0].status, "succeeded");
    assert.ok(existsSync(later));
    assert.equal(existsSync(never), false, "the expired command never ran");
  });
});
