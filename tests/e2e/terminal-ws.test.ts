// @matrix: store
/**
 * The terminal WebSocket and the sessions/settings REST API end to end (docs/protocol.md §17.3,
 * §17.7): a real server process, a real agent with a real PTY, and a `ws` client in the
 * browser's role (cookie + Origin) and the CLI's (token + x-tether-client: cli). Refusals before
 * the upgrade (no credentials, a viewer, a foreign Origin with the cookie), bad first messages,
 * an unknown device, a join from another project; a shell that echoes, a second user watching
 * read-only then granted input, the owner leaving; the sessions list, one session, settings by
 * role with a bad allow-list entry refused; a recorded session whose .cast plays in asciinema.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { TERMINAL_WS_PATH, TUNNEL_CLOSE } from "@tether/protocol";
import { sessionCookie, userToken } from "../support/api-lookups.js";
import { connectTerminal, type TermClient, terminal } from "../support/terminal-client.js";
import {
  type Api,
  cleanupTempDirs,
  enrollOnline,
  makeApi,
  type ServerHandle,
  startServer,
  tempDir,
  waitFor,
} from "./harness.js";

let server: ServerHandle;
let wsUrl: string;
let origin: string;
const tok: Record<string, string> = {};
const api: Record<string, Api> = {};

before(async () => {
  server = await startServer();
  await enrollOnline(server, { name: "robot-1" });
  wsUrl = `${server.info.url.replace(/^https:/, "wss:")}${TERMINAL_WS_PATH}`;
  origin = new URL(server.info.url).origin;
  tok.admin = server.token;
  for (const [name, role] of [
    ["ops", "operator"],
    ["ops2", "operator"],
    ["watcher", "viewer"],
  ] as const)
    tok[name] = await userToken(server, name, role);
  // A user of another project only.
  await server.api.call("POST", "/api/v1/projects", { name: "elsewhere" });
  const other = makeApi(server.info.url, server.ca, server.token, { "x-tether-project": "elsewhere" });
  await other.call("POST", "/api/v1/users", {
    username: "stranger",
    role: "admin",
    password: "stranger-password-1",
  });
  const { cookie } = await sessionCookie(server.info.url, server.ca, "stranger", "stranger-password-1");
  const t = await makeApi(server.info.url, server.ca).request(
    "POST",
    "/api/v1/api-tokens",
    { name: "s" },
    { cookie, origin },
  );
  tok.stranger = t.body.token;
  for (const [k, v] of Object.entries(tok)) api[k] = makeApi(server.info.url, server.ca, v);
});
after(async () => {
  await server?.stop();
  await cleanupTempDirs();
});

const bearer = (who: string, extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${tok[who]}`,
  ...extra,
});
const cli = (who: string) => bearer(who, { "x-tether-client": "cli" });
const open = (who: string, first: unknown, o: { read?: boolean } = {}) =>
  terminal(wsUrl, { headers: cli(who), ca: server.ca, first, ...o });
const SHELL = { type: "open", device: "robot-1", pty: { cols: 80, rows: 24 } };

async function refusedWith(c: TermClient, code: string, close: number): Promise<string> {
  const e = await c.next("error");
  assert.equal(e.code, code, JSON.stringify(e));
  assert.equal((await c.closed).code, close);
  return e.message;
}

describe("refusals", () => {
  test("before the upgrade: no credentials 401, a viewer 403, the cookie from a foreign Origin (or none) 403", async () => {
    const none = await connectTerminal(wsUrl, { ca: server.ca, first: SHELL });
    assert.deepEqual(none.ok ? null : [none.status, none.body.error.code], [
      401,
      "TETHER_ERR_UNAUTHENTICATED",
    ]);
    const viewer = await connectTerminal(wsUrl, { ca: server.ca, headers: bearer("watcher"), first: SHELL });
    assert.deepEqual(viewer.ok ? null : [viewer.status, viewer.body.error.code], [
      403,
      "TETHER_ERR_FORBIDDEN",
    ]);
    const { cookie } = await sessionCookie(server.info.url, server.ca, "ops", "ops-password-1");
    const foreign = await connectTerminal(wsUrl, {
      ca: server.ca,
      headers: { cookie, origin: "https://evil.example" },
      first: SHELL,
    });
    assert.deepEqual(foreign.ok ? null : [foreign.status, foreign.body.error.code], [
      403,
      "TETHER_ERR_BAD_ORIGIN",
    ]);
    const noOrigin = await connectTerminal(wsUrl, { ca: server.ca, headers: { cookie }, first: SHELL });
    assert.deepEqual(noOrigin.ok ? null : [noOrigin.status, noOrigin.body.error.code], [
      403,
      "TETHER_ERR_BAD_ORIGIN",
    ]);
    // The console's own page: the cookie with the server's Origin is let in.
    const own = await terminal(wsUrl, { ca: server.ca, headers: { cookie, origin } });
    own.ws.close();
  });

  test("a bad first message: error, close 4010; an unknown device: DEVICE_NOT_FOUND, close 4004", async () => {
    const bad = await open("ops", { type: "open", device: "robot-1" });
    await refusedWith(bad, "TETHER_ERR_BAD_REQUEST", TUNNEL_CLOSE.protocol);
    const junk = await terminal(wsUrl, { headers: cli("ops"), ca: server.ca });
    junk.ws.send("not json");
    await refusedWith(junk, "TETHER_ERR_BAD_REQUEST", TUNNEL_CLOSE.protocol);
    const unknown = await open("ops", { ...SHELL, device: "robot-404" });
    assert.match(
      await refusedWith(unknown, "TETHER_ERR_DEVICE_NOT_FOUND", TUNNEL_CLOSE.unreachable),
      /robot-404/,
    );
    const nobody = await open("ops", { type: "join", session: "ses_00000000000000000000" });
    await refusedWith(nobody, "TETHER_ERR_SESSION_NOT_FOUND", TUNNEL_CLOSE.refused);
  });
});

describe("a shell with several participants", { concurrency: 1 }, () => {
  let sessionId = "";

  test("open, type echo, read it; a viewer sees it read-only; granted it types; the owner leaves and the viewer is told", async () => {
    const owner = await open("ops", SHELL);
    const ready = await owner.next("ready");
    assert.equal(ready.role, "owner");
    assert.deepEqual(ready.device.name, "robot-1");
    assert.deepEqual(ready.pty, { cols: 80, rows: 24 });
    sessionId = ready.session;
    owner.ch.write("echo hi-$((6*7))\n");
    await owner.until("hi-42");

    // Another project's user cannot watch it, even as its admin.
    const stranger = await open("stranger", { type: "join", session: sessionId });
    await refusedWith(stranger, "TETHER_ERR_SESSION_NOT_FOUND", TUNNEL_CLOSE.refused);

    // The console's way: cookie + Origin.
    const { cookie } = await sessionCookie(server.info.url, server.ca, "ops2", "ops2-password-1");
    const viewer = await terminal(wsUrl, {
      ca: server.ca,
      headers: { cookie, origin },
      first: { type: "join", session: sessionId },
    });
    assert.equal((await viewer.next("ready")).role, "viewer");
    await viewer.until("hi-42"); // the recent output, replayed
    const two = (m: { list: { user: string; role: string; via: string }[] }) => m.list.length === 2;
    assert.deepEqual(
      (await owner.next("participants", two)).list.map((p) => [p.user, p.role, p.via]),
      [
        ["ops", "owner", "cli"],
        ["ops2", "viewer", "console"],
      ],
    );
    // The viewer's typing is ignored (it is told once); the owner's reaches the shell.
    viewer.ch.write("echo viewer-$((1+1))\n");
    await viewer.next("notice");
    owner.ch.write("echo owner-$((2+2))\n");
    await viewer.until("owner-4");
    await owner.until("owner-4");
    assert.doesNotMatch(owner.out(), /viewer-2/);

    owner.json({ type: "grant", user: "ops2", write: true });
    await viewer.next("notice", (m) => /let you type/.test(m.message));
    viewer.ch.write("echo granted-$((3+3))\n");
    await owner.until("granted-6");

    owner.ws.close();
    assert.match(
      await refusedWith(viewer, "TETHER_ERR_TUNNEL_CLOSED", TUNNEL_CLOSE.normal),
      /ops closed the session/,
    );
  });

  test("the sessions list and one session: who, where, via, how it ended (viewers may read)", async () => {
    const s = await waitFor(async () => {
      const r = await api.watcher.call<{ sessions: any[] }>("GET", "/api/v1/sessions?device=robot-1");
      const mine = r.sessions.find((x) => x.id === sessionId);
      return mine?.endedAt ? mine : undefined;
    }, "the session ended in the list");
    assert.equal(s.user, "ops");
    assert.equal(s.via, "cli");
    assert.equal(s.kind, "shell");
    assert.equal(s.device.name, "robot-1");
    assert.equal(s.endReason, "closed");
    assert.equal(s.live, false);
    assert.equal(s.recorded, false);
    assert.ok(s.bytesIn > 0 && s.bytesOut > 0, JSON.stringify(s));
    assert.deepEqual(await api.watcher.call("GET", `/api/v1/sessions/${sessionId}`), s);
    const missing = await api.watcher.request("GET", "/api/v1/sessions/ses_00000000000000000000");
    assert.deepEqual([missing.status, missing.body.error.code], [404, "TETHER_ERR_SESSION_NOT_FOUND"]);
    const badId = await api.watcher.request("GET", "/api/v1/sessions/..%2Fetc");
    assert.equal(badId.status, 400);
    const badLimit = await api.watcher.request("GET", "/api/v1/sessions?limit=100000");
    assert.equal(badLimit.status, 400);
    const elsewhere = await api.stranger.call<{ sessions: any[] }>("GET", "/api/v1/sessions");
    assert.deepEqual(elsewhere.sessions, [], "another project sees none");
    const notRecorded = await api.ops.request("GET", `/api/v1/sessions/${sessionId}/recording`);
    assert.deepEqual(
      [notRecorded.status, notRecorded.body.error.code],
      [404, "TETHER_ERR_RECORDING_NOT_FOUND"],
    );
    const viewerRec = await api.watcher.request("GET", `/api/v1/sessions/${sessionId}/recording`);
    assert.equal(viewerRec.status, 403, "recordings are for operators");
  });

  test("a command without a PTY: stdout and stderr apart, its exit status", async () => {
    const c = await open("ops", {
      type: "open",
      device: "robot-1",
      command: "echo out; echo err >&2; exit 5",
      pty: null,
    });
    assert.equal((await c.next("ready")).pty, null);
    assert.deepEqual(await c.next("exit"), { type: "exit", code: 5, signal: null });
    assert.equal(c.out(), "out\n");
    assert.equal(c.err(), "err\n");
    assert.equal((await c.closed).code, TUNNEL_CLOSE.normal);
  });
});

describe("tunnel settings and recordings", { concurrency: 1 }, () => {
  test("settings: viewers read the defaults, operators may not change them, admins may; a bad entry is 400", async () => {
    assert.deepEqual(await api.watcher.call("GET", "/api/v1/project/tunnels"), {
      record: false,
      forwardAllow: ["localhost:*", "127.0.0.1:*", "[::1]:*"],
    });
    const byOps = await api.ops.request("PUT", "/api/v1/project/tunnels", { record: true });
    assert.deepEqual([byOps.status, byOps.body.error.code], [403, "TETHER_ERR_FORBIDDEN"]);
    for (const bad of [
      { forwardAllow: ["localhost"] },
      { forwardAllow: ["a b:80"] },
      { record: "yes" },
      { other: 1 },
    ]) {
      const r = await api.admin.request("PUT", "/api/v1/project/tunnels", bad);
      assert.deepEqual([r.status, r.body.error.code], [400, "TETHER_ERR_BAD_REQUEST"], JSON.stringify(bad));
    }
    assert.deepEqual(
      await api.admin.call("PUT", "/api/v1/project/tunnels", {
        forwardAllow: ["localhost:8080", "[::1]:1-1024"],
      }),
      {
        record: false,
        forwardAllow: ["localhost:8080", "[::1]:1-1024"],
      },
    );
    assert.deepEqual(await api.admin.call("PUT", "/api/v1/project/tunnels", { record: true }), {
      record: true,
      forwardAllow: ["localhost:8080", "[::1]:1-1024"],
    });
    // Both, and the sessions routes, are in the OpenAPI document.
    const doc = await api.watcher.call<any>("GET", "/api/openapi.json");
    for (const [path, method] of [
      ["/api/v1/sessions", "get"],
      ["/api/v1/sessions/{id}", "get"],
      ["/api/v1/sessions/{id}/recording", "get"],
      ["/api/v1/project/tunnels", "get"],
      ["/api/v1/project/tunnels", "put"],
    ])
      assert.deepEqual(doc.paths[path]?.[method]?.tags, ["sessions"], `${method} ${path}`);
    // Another project keeps its own.
    assert.equal(
      (await api.stranger.call<{ record: boolean }>("GET", "/api/v1/project/tunnels")).record,
      false,
    );
  });

  test("a recorded shell: the .cast downloads as asciicast v2 and plays in asciinema", async () => {
    const c = await open("ops", SHELL);
    const ready = await c.next("ready");
    assert.equal(ready.recorded, true);
    c.ch.write("echo recorded-$((40+2)) café\n");
    await c.until("recorded-42 café");
    c.ch.write("exit 3\n");
    assert.deepEqual(await c.next("exit"), { type: "exit", code: 3, signal: null });
    const view = await waitFor(async () => {
      const v = await api.ops.call<any>("GET", `/api/v1/sessions/${ready.session}`);
      return v.endedAt ? v : undefined;
    }, "the recorded session ended");
    assert.equal(view.recorded, true);
    assert.equal(view.exitCode, 3);
    assert.equal(view.endReason, "exited");
    const r = await api.ops.request("GET", `/api/v1/sessions/${ready.session}/recording`);
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-type"]), /^application\/x-asciicast/);
    const text = typeof r.body === "string" ? r.body : JSON.stringify(r.body);
    const [header, ...events] = text
      .trim()
      .split("\n")
      .map((l: string) => JSON.parse(l));
    assert.equal(header.version, 2);
    assert.equal(header.width, 80);
    assert.equal(header.height, 24);
    assert.ok(events.every((e: unknown[]) => typeof e[0] === "number" && (e[1] === "o" || e[1] === "r")));
    assert.match(events.map((e: unknown[]) => e[2]).join(""), /recorded-42 café/);
    if (spawnSync("asciinema", ["--version"]).status !== 0) {
      if (process.env.CI) assert.fail("asciinema is not installed (apt-get install -y asciinema)");
      process.stderr.write("SKIPPED: asciinema is not installed; the playback check did not run\n");
      return;
    }
    const file = join(tempDir("tether-cast-"), "s.cast");
    writeFileSync(file, text);
    // asciinema reads keys from /dev/tty even for `cat`: util-linux's script gives it one.
    const played = execFileSync("script", ["-qec", `asciinema cat '${file}'`, "/dev/null"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LANG: "C.UTF-8" },
    });
    assert.match(played, /recorded-42 café/);
  });
});
