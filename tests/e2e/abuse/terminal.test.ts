// @matrix: once
/**
 * Issue 9, finding 8: device-provided text must never reach the operator's terminal raw.
 * A device name full of ESC / OSC 52 (clipboard write) / CSI is refused at enrollment and at
 * rename (one name rule, protocol names.ts); a device that already carries such a name (one
 * enrolled before the rule: written into the database here) and such a hostname fact is
 * printed escaped by every CLI path: devices list/show, ping of the offline device (the
 * server's error message embeds the name), exec --all --prefix, and error messages.
 * The real CLI runs as a subprocess against a real server process and a real agent.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { Cli, type CliResult, expectExit, stopClis } from "../../support/cli-driver.js";
import {
  type AgentHandle,
  cleanupTempDirs,
  createToken,
  type Device,
  enrollOnline,
  type ServerHandle,
  startAgent,
  startServer,
  tempDir,
  waitFor,
} from "../harness.js";

/** Sets the terminal title, writes "rm -rf ~" to the clipboard (OSC 52), clears the screen, C1 CSI. */
const EVIL = "ev\x1b]0;owned\x07il\x1b]52;c;cm0gLXJmIH4K\x07\x1b[2J\x9b31m\r\x08";
/** What a terminal would act on: ESC, BEL, C1 controls (0x80-0x9f), CR, BS. */
const RAW_CONTROL = /[\x07\x08\x0d\x1b\x80-\x9f]/;

function assertNoRawControl(r: CliResult, what: string): void {
  // Bytes, not just the decoded text: a C1 control is two bytes in UTF-8 (0xc2 0x9b).
  const text = `${r.out.toString("latin1")}\n${r.stderr}`;
  assert.ok(
    !RAW_CONTROL.test(r.stdout) && !RAW_CONTROL.test(r.stderr) && !text.includes("\x1b"),
    `${what}: raw control characters reached the terminal:\n${JSON.stringify(r.stdout)}\n${JSON.stringify(r.stderr)}`,
  );
}

after(async () => {
  stopClis();
  await cleanupTempDirs();
});

describe("terminal escapes from devices (finding 8)", { concurrency: 1 }, () => {
  let server: ServerHandle;
  let cli: Cli;
  let legacy: { agent: AgentHandle; device: Device };

  before(async () => {
    server = await startServer();
    cli = new Cli(server);
    legacy = await enrollOnline(server, { name: "legacy", labels: { site: "lab" } });
  });
  after(async () => {
    await legacy?.agent.stop();
    await server?.stop();
  });

  test("enrollment with control characters in the name is refused with a clear error", async () => {
    const token = await createToken(server.api, { autoAccept: true });
    const agent = startAgent({ dataDir: join(tempDir(), "agent"), url: server.info.url, token, name: EVIL });
    try {
      // Either the agent gives up (refused) or the device appears (accepted: the bug).
      const outcome = await waitFor(async () => {
        if (agent.proc.exitCode !== null) return "refused";
        const list = await server.api.call<Device[]>("GET", "/api/v1/devices");
        return list.some((d) => d.name.includes("\x1b")) ? "enrolled" : undefined;
      }, "the agent to be refused or enrolled");
      assert.equal(outcome, "refused", "a device named with ESC / OSC 52 was enrolled");
      assert.notEqual(agent.proc.exitCode, 0);
      assert.match(agent.stderr(), /TETHER_ERR_BAD_DEVICE_NAME/);
      assert.match(agent.stderr(), /letters, digits, \. _ - \(1-64 characters\)/);
      assert.ok(!agent.stderr().includes("\x1b]52"), "the refusal does not echo the name");
    } finally {
      await agent.kill();
    }
  });

  test("rename to a name with control characters is refused the same way (API and CLI)", async () => {
    const r = await server.api.request("PATCH", `/api/v1/devices/${legacy.device.id}`, { name: EVIL });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, "TETHER_ERR_BAD_DEVICE_NAME");
    assert.ok(!JSON.stringify(r.body).includes("owned"), "the error does not echo the name");
    const c = await cli.run(["devices", "rename", legacy.device.id, EVIL]);
    expectExit(c, 2, "devices rename EVIL");
    assertNoRawControl(c, "devices rename");
    assert.match(c.stderr, /letters, digits/);
  });

  test("a device already named with escapes is printed escaped everywhere", async () => {
    const id = legacy.device.id;
    // A device enrolled before the rule keeps its name; its hostname fact is device-provided too.
    const db = new Database(join(server.dataDir, "tether.db"));
    try {
      const row = db.prepare("SELECT facts FROM devices WHERE id = ?").get(id) as { facts: string | null };
      const facts = { ...JSON.parse(row.facts ?? "{}"), hostname: EVIL };
      db.prepare("UPDATE devices SET name = ?, facts = ? WHERE id = ?").run(EVIL, JSON.stringify(facts), id);
    } finally {
      db.close();
    }
    assert.equal((await server.api.call<Device>("GET", `/api/v1/devices/${id}`)).name, EVIL);

    const list = await cli.run(["devices", "list"]);
    expectExit(list, 0, "devices list");
    assertNoRawControl(list, "devices list");
    assert.match(list.stdout, /ev\\x1b\]0;owned\\x07il/, "the name is shown, escaped");

    const show = await cli.run(["devices", "show", id]);
    expectExit(show, 0, "devices show");
    assertNoRawControl(show, "devices show");

    const json = await cli.run(["devices", "list", "--json"]);
    expectExit(json, 0, "devices list --json");
    assertNoRawControl(json, "devices list --json");
    assert.equal(JSON.parse(json.stdout)[0].name, EVIL, "--json still carries the exact name");

    const prefix = await cli.run(["exec", "--all", "--prefix", "--", "echo", "hello"]);
    expectExit(prefix, 0, "exec --all --prefix");
    assertNoRawControl(prefix, "exec --all --prefix");
    assert.match(prefix.stdout, /\\x1b\[2J.*: hello\n/);

    // An error from the server that embeds the name.
    const accept = await cli.run(["devices", "accept", id]);
    assert.notEqual(accept.code, 0);
    assertNoRawControl(accept, "devices accept (error)");
    assert.match(accept.stderr, /is accepted/);

    // Offline: the server's "device NAME is not connected" on every no-reply line and the error.
    await legacy.agent.stop();
    await waitFor(
      async () => !(await server.api.call<Device>("GET", `/api/v1/devices/${id}`)).online,
      "legacy offline",
    );
    const ping = await cli.run(["ping", id, "-c", "2", "-i", "0", "-W", "1s"]);
    expectExit(ping, 255, "ping of the offline device");
    assertNoRawControl(ping, "ping (offline)");
    assert.match(ping.stdout, /no reply from ev\\x1b/);

    const exec = await cli.run(["exec", id, "--", "true"]);
    expectExit(exec, 255, "exec on the offline device");
    assertNoRawControl(exec, "exec (offline)");

    const fleet = await cli.run(["exec", "--all", "--prefix", "--", "true"]);
    expectExit(fleet, 255, "exec --all on the offline device");
    assertNoRawControl(fleet, "exec --all (offline)");
    assert.match(fleet.stdout, /\[OFFLINE\] ev\\x1b/);
  });
});
