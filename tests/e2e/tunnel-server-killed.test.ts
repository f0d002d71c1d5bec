// @matrix: once
/**
 * A server killed mid-session (issue 13, bad input): the device must not keep the session's
 * processes, the user's side must see a close (not hang), and after a restart the session is
 * listed as ended by the server stopping (docs/protocol.md §17.1.2, §17.4).
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { connectTerminal } from "../support/terminal-client.js";
import { cleanupTempDirs, enrollOnline, startServer, waitFor } from "./harness.js";

after(cleanupTempDirs);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test("SIGKILL of the server: the device ends the shell and its children, the user sees the close, the history says server-stopped", async () => {
  const server = await startServer();
  const { agent } = await enrollOnline(server, { name: "robot-k" });
  const wsUrl = `${server.info.url.replace(/^https:/, "wss:")}/api/v1/terminal`;
  const c = await connectTerminal(wsUrl, {
    ca: server.ca,
    headers: { authorization: `Bearer ${server.token}` },
    first: { type: "open", device: "robot-k", pty: { cols: 80, rows: 24 } },
  });
  assert.ok(c.ok, "the shell opened");
  const t = c.client;
  const ready = await t.next("ready");
  assert.equal(ready.device.name, "robot-k");
  // A background child and a foreground one: both belong to the session and must end with it.
  t.ch.write("sleep 4242 & printf 'pids %s %s ok\\n' $! $$; sleep 4343\r");
  // The echo of the typed line has no "ok" followed by CR LF; the printed line has.
  await t.until("ok\r\n");
  const [, bg, shell] = /pids (\d+) (\d+) ok/.exec(t.out())!.map(Number);
  assert.ok(alive(bg) && alive(shell), "the shell and its child run on the device");

  await server.kill();
  const closed = await t.closed;
  assert.notEqual(closed.code, 1000, "not a normal close: the server went away");
  // The agent sees its tunnel drop and ends the session's processes (SIGHUP, then SIGKILL).
  await waitFor(
    () => (!alive(bg) && !alive(shell) ? true : undefined),
    "the session's processes gone",
    15_000,
  );

  // A restarted server lists the session as ended by the server stopping, not live.
  const again = await startServer({
    dataDir: server.dataDir,
    httpPort: server.httpPort,
    mqttPort: server.mqttPort,
  });
  try {
    const list = await again.api.call<{ sessions: any[] }>("GET", "/api/v1/sessions?device=robot-k");
    const s = list.sessions.find((x) => x.id === ready.session);
    assert.ok(s, "the session is in the history");
    assert.equal(s.live, false);
    assert.equal(s.endReason, "server-stopped");
  } finally {
    await agent.stop();
    await again.stop();
  }
});
