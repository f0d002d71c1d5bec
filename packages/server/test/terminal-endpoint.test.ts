// @matrix: once
// The terminal WebSocket (docs/protocol.md §17.3) against a fake tunnel layer whose sessions are
// real TunnelMux pairs, with a real `ws` client in the browser's/CLI's role: refusals before the
// upgrade, bad first messages, refused opens and their close codes, the relay (input, output,
// resize, signal) with flow control paced by the owner, late joiners' replay, read-only viewers,
// grants, a too-slow viewer cut off, the end of a session for everyone, and user changes.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { encodeFrame, FRAME, TetherError, TUNNEL_CLOSE, TUNNEL_LIMITS } from "@tether/protocol";
import { connectTerminal, type TermClient, terminal } from "../../../tests/support/terminal-client.js";
import { auth, type FakeSession, OPEN, type World, world } from "./terminal-fakes.js";

let w: World;
before(async () => {
  w = await world();
});
after(() => w?.close());

const open = (token = "admin", extra: Record<string, string> = {}, first: unknown = OPEN) =>
  terminal(w.url, { headers: auth(token, extra), first });

/** Open a shell and wait for it to be ready; the fake session is the newest. */
async function shell(
  token = "admin",
  o: { read?: boolean } = {},
): Promise<{ c: TermClient; s: FakeSession }> {
  const c = await terminal(w.url, { headers: auth(token), first: OPEN, ...o });
  await c.next("ready");
  return { c, s: w.sessions.at(-1)! };
}

/** Everything the device reads from its channel 0, as text. */
function devInput(s: FakeSession): { text(): string; until(t: string): Promise<void> } {
  let text = "";
  const waiters: (() => void)[] = [];
  s.dev.on("data", (c: Buffer) => {
    text += c.toString();
    for (const f of waiters.splice(0)) f();
  });
  return {
    text: () => text,
    until: (t) =>
      new Promise<void>((resolve) => {
        const check = () => (text.includes(t) ? resolve() : waiters.push(check));
        check();
      }),
  };
}

async function refusedWith(c: TermClient, code: string, close: number): Promise<string> {
  const e = await c.next("error");
  assert.equal(e.code, code, JSON.stringify(e));
  assert.equal((await c.closed).code, close);
  return e.message;
}

describe("refused before the upgrade", () => {
  test("no credentials: 401; a viewer-role user: 403; a foreign Origin: 403, even with a token", async () => {
    const none = await connectTerminal(w.url, { first: OPEN });
    assert.deepEqual(none.ok ? null : [none.status, none.body.error.code], [
      401,
      "TETHER_ERR_UNAUTHENTICATED",
    ]);
    const bad = await connectTerminal(w.url, { headers: auth("no-such-token") });
    assert.equal(bad.ok ? 0 : bad.status, 401);
    const viewer = await connectTerminal(w.url, { headers: auth("viewer"), first: OPEN });
    assert.deepEqual(viewer.ok ? null : [viewer.status, viewer.body.error.code], [
      403,
      "TETHER_ERR_FORBIDDEN",
    ]);
    const foreign = await connectTerminal(w.url, {
      headers: auth("admin", { origin: "https://evil.example" }),
    });
    assert.deepEqual(foreign.ok ? null : [foreign.status, foreign.body.error.code], [
      403,
      "TETHER_ERR_BAD_ORIGIN",
    ]);
    assert.equal(w.opens.length, 0, "nothing reached the tunnel layer");
  });

  test("one user's terminal connections are capped (429, TETHER_ERR_TUNNEL_LIMIT)", async () => {
    const small = await world({ socketsPerUser: 2 });
    try {
      const a = await terminal(small.url, { headers: auth("ops") });
      const b = await terminal(small.url, { headers: auth("ops") });
      const c = await connectTerminal(small.url, { headers: auth("ops") });
      assert.deepEqual(c.ok ? null : [c.status, c.body.error.code], [429, "TETHER_ERR_TUNNEL_LIMIT"]);
      // Another user is not affected; a closed connection frees its place.
      (await terminal(small.url, { headers: auth("ops2") })).ws.close();
      a.ws.close();
      await a.closed;
      await terminal(small.url, { headers: auth("ops") });
      b.ws.close();
    } finally {
      await small.close();
    }
  });
});

describe("the first message", () => {
  test("not JSON, the wrong shape, a grant, or a frame first: an error, then close 4010", async () => {
    for (const first of [
      "hello",
      JSON.stringify({ type: "open", device: "robot-1" }),
      JSON.stringify({ type: "nope" }),
    ]) {
      const c = await terminal(w.url, { headers: auth("admin") });
      c.ws.send(first);
      const m = await refusedWith(c, "TETHER_ERR_BAD_REQUEST", TUNNEL_CLOSE.protocol);
      assert.ok(m.length > 0);
    }
    const g = await open("admin", {}, { type: "grant", user: "x", write: true });
    await refusedWith(g, "TETHER_ERR_BAD_REQUEST", TUNNEL_CLOSE.protocol);
    const extra = await open("admin", {}, { ...OPEN, shell: "/bin/sh" });
    assert.match(
      await refusedWith(extra, "TETHER_ERR_BAD_REQUEST", TUNNEL_CLOSE.protocol),
      /invalid message/,
    );
    const frame = await terminal(w.url, { headers: auth("admin") });
    frame.ws.send(encodeFrame({ type: FRAME.DATA, ch: 0, data: new Uint8Array([1]) }));
    assert.match(
      await refusedWith(frame, "TETHER_ERR_BAD_REQUEST", TUNNEL_CLOSE.protocol),
      /open or join first/,
    );
    assert.equal(w.opens.length, 0);
  });

  test("nothing within the first-message time: closed 4010", async () => {
    const quick = await world({ firstMessageMs: 100 });
    try {
      const c = await terminal(quick.url, { headers: auth("ops") });
      assert.match(await refusedWith(c, "TETHER_ERR_BAD_REQUEST", TUNNEL_CLOSE.protocol), /within/);
    } finally {
      await quick.close();
    }
  });

  test("refused opens: the code and message, closed refused (4003) or unreachable (4004)", async () => {
    const unknown = await open("admin", {}, { ...OPEN, device: "robot-9" });
    assert.match(
      await refusedWith(unknown, "TETHER_ERR_DEVICE_NOT_FOUND", TUNNEL_CLOSE.unreachable),
      /robot-9/,
    );
    const both = await open("admin", {}, { ...OPEN, argv: ["ls"], command: "ls" });
    await refusedWith(both, "TETHER_ERR_BAD_REQUEST", TUNNEL_CLOSE.refused);
    const cases: [string, number][] = [
      ["TETHER_ERR_EXEC_USER_NOT_ALLOWED", TUNNEL_CLOSE.refused],
      ["TETHER_ERR_TUNNEL_LIMIT", TUNNEL_CLOSE.refused],
      ["TETHER_ERR_FORBIDDEN", TUNNEL_CLOSE.refused],
      ["TETHER_ERR_DEVICE_OFFLINE", TUNNEL_CLOSE.unreachable],
      ["TETHER_ERR_TUNNEL_TIMEOUT", TUNNEL_CLOSE.unreachable],
      ["TETHER_ERR_SPAWN_FAILED", TUNNEL_CLOSE.unreachable],
    ];
    for (const [code, close] of cases) {
      w.failNext = new TetherError(code as never, `because ${code}`);
      const c = await open();
      assert.equal(await refusedWith(c, code, close), `because ${code}`);
    }
  });

  test("the open request: via from x-tether-client, sizes clamped (0×0, 100000 columns), user, argv, term", async () => {
    const before = w.opens.length;
    const c = await open(
      "ops",
      { "x-tether-client": "cli" },
      {
        type: "open",
        device: "d1-0001",
        user: "robot",
        argv: ["top", "-b"],
        pty: { cols: 100_000, rows: 0, term: "xterm-kitty" },
      },
    );
    const ready = await c.next("ready");
    const req = w.opens[before];
    assert.equal(req.via, "cli");
    assert.equal(req.principal.username, "ops");
    assert.equal(req.device.id, "d1-0001");
    assert.deepEqual(req.spec, {
      kind: "shell",
      shell: {
        pty: { cols: TUNNEL_LIMITS.maxCols, rows: 1, term: "xterm-kitty" },
        user: "robot",
        argv: ["top", "-b"],
      },
    });
    assert.deepEqual(ready, {
      type: "ready",
      session: w.sessions.at(-1)!.id,
      device: { id: "d1-0001", name: "robot-1" },
      role: "owner",
      recorded: false,
      pty: { cols: TUNNEL_LIMITS.maxCols, rows: 1 },
    });
    const console = await open("ops");
    await console.next("ready");
    assert.equal(w.opens.at(-1)!.via, "console");
    const pipes = await open("ops", {}, { type: "open", device: "robot-1", command: "ls", pty: null });
    assert.equal((await pipes.next("ready")).pty, null);
    for (const x of [c, console, pipes]) x.ws.close();
  });
});

describe("one user's shell", () => {
  test("input, output, stderr, resize, signal and EOF reach the other side; ready comes before anything else", async () => {
    const { c, s } = await shell();
    assert.equal(c.messages[0].type, "ready");
    const p = await c.next("participants");
    assert.deepEqual(
      p.list.map((x) => [x.user, x.role, x.via]),
      [["admin", "owner", "console"]],
    );
    const input = devInput(s);
    c.ch.write("echo hi\n");
    await input.until("echo hi\n");
    s.dev.write("hi\r\n$ ");
    s.dev.stderrOut.write("warning\n");
    await c.until("hi\r\n$ ");
    const resized = new Promise((r) => s.dev.once("resize", (cols, rows) => r([cols, rows])));
    c.ch.resize(132, 43);
    assert.deepEqual(await resized, [132, 43]);
    assert.deepEqual(s.pty, { cols: 132, rows: 43 });
    const signalled = new Promise((r) => s.dev.once("signal", r));
    c.ch.signal("INT");
    assert.equal(await signalled, "INT");
    const eof = new Promise((r) => s.dev.once("end", r));
    c.ch.end();
    await eof;
    await c.until("warning\n", true);
    s.dev.exit(0, null);
    assert.deepEqual(await c.next("exit"), { type: "exit", code: 0, signal: null });
    assert.equal((await c.closed).code, TUNNEL_CLOSE.normal);
  });

  test("the exit comes after the last output, for each participant at its own pace", async () => {
    const { c, s } = await shell();
    const v = await terminal(w.url, {
      headers: auth("ops"),
      first: { type: "join", session: s.id },
      read: false,
    });
    await v.next("ready");
    const atExit = new Map<TermClient, number>();
    for (const x of [c, v])
      x.ws.on("message", (d: Buffer, bin: boolean) => {
        if (!bin && JSON.parse(d.toString()).type === "exit") atExit.set(x, x.out().length);
      });
    // More than a window, less than the lag that would cut the viewer off.
    const big = "x".repeat(600 * 1024);
    s.dev.write(big);
    s.dev.write("END\n");
    s.dev.exit(7, null);
    assert.deepEqual(await c.next("exit"), { type: "exit", code: 7, signal: null });
    assert.equal(atExit.get(c), big.length + 4, "the owner had every byte when the exit came");
    assert.equal((await c.closed).code, TUNNEL_CLOSE.normal);
    // The viewer did not read until now: the owner's exit did not wait for it, and it still gets it all.
    assert.equal(
      v.messages.some((m) => m.type === "exit"),
      false,
    );
    v.read();
    assert.deepEqual(await v.next("exit"), { type: "exit", code: 7, signal: null });
    assert.equal(atExit.get(v), big.length + 4, "the viewer had every byte when the exit came");
  });

  test("output is read at the owner's pace: while it does not read, the device is held within a few windows", async () => {
    const { c, s } = await shell("admin", { read: false });
    const total = 8 * 1024 * 1024;
    const chunk = Buffer.alloc(32 * 1024);
    let written = 0;
    let seq = 0;
    // The device writes as fast as its channel lets it (a `yes`).
    const pump = () => {
      while (written < total) {
        chunk.fill(seq++ % 251);
        written += chunk.length;
        if (!s.dev.write(Buffer.from(chunk))) return void s.dev.once("drain", pump);
      }
    };
    pump();
    // A round trip through every hop: once the device sees this signal, everything the server
    // did before it has reached the device too.
    const roundTrip = async () => {
      const got = new Promise((r) => s.dev.once("signal", r));
      c.ch.signal("WINCH");
      await got;
    };
    // Unheld, the device would get about half a window further per round trip.
    for (let i = 0; i < 16; i++) await roundTrip();
    const held = s.devMux.bytesSent;
    assert.ok(held < total, "the device is held");
    assert.ok(
      held <= 3 * TUNNEL_LIMITS.window + 64 * 1024,
      `${held} bytes left the device with nobody reading`,
    );
    for (let i = 0; i < 4; i++) await roundTrip();
    assert.equal(s.devMux.bytesSent, held, "and stays held");
    // The owner reads: everything arrives, in order.
    let got = 0;
    let expect = 0;
    let ok = true;
    const done = new Promise<void>((resolve) =>
      c.ch.on("data", (b: Buffer) => {
        for (let i = 0; i < b.length; i++, got++) {
          if (got % chunk.length === 0 && got > 0) expect = (expect + 1) % 251;
          if (b[i] !== expect) ok = false;
        }
        if (got === total) resolve();
      }),
    );
    await done;
    assert.ok(ok, "bytes in order");
    c.ws.close();
  });

  test("a malformed frame from the user: close 4010, and the session ends", async () => {
    const { c, s } = await shell();
    const ended = new Promise((r) => s.once("end", r));
    c.ws.send(Buffer.from([FRAME.WINDOW, 0, 0, 0, 0, 1, 2]));
    await refusedWith(c, "TETHER_ERR_BAD_REQUEST", TUNNEL_CLOSE.protocol);
    assert.equal(((await ended) as { reason: string }).reason, "closed");
  });

  test("the user leaves while the device is dialling back: the session is closed when it opens", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const tunnels = (
      w.endpoint as unknown as { d: { tunnels: { open: (r: unknown) => Promise<FakeSession> } } }
    ).d.tunnels;
    const real = tunnels.open;
    tunnels.open = async (r) => {
      await gate;
      return real(r);
    };
    try {
      const c = await open();
      c.ws.close();
      await c.closed;
      release();
      const s = await new Promise<FakeSession>((resolve) => {
        const check = () => {
          const last = w.sessions.at(-1);
          return last && last.req.principal.username === "admin" && last.ended
            ? resolve(last)
            : setImmediate(check);
        };
        check();
      });
      assert.equal(s.ended?.reason, "closed");
    } finally {
      tunnels.open = real;
    }
  });

  test("how a session ended picks the last message and the close code", async () => {
    const cases: [string, string, number][] = [
      ["revoked", "TETHER_ERR_TUNNEL_CLOSED", TUNNEL_CLOSE.revoked],
      ["idle", "TETHER_ERR_TUNNEL_CLOSED", TUNNEL_CLOSE.timeout],
      ["max-length", "TETHER_ERR_TUNNEL_CLOSED", TUNNEL_CLOSE.timeout],
      ["device-gone", "TETHER_ERR_TUNNEL_CLOSED", TUNNEL_CLOSE.unreachable],
      ["server-stopped", "TETHER_ERR_TUNNEL_CLOSED", TUNNEL_CLOSE.unreachable],
    ];
    for (const [reason, code, close] of cases) {
      const { c, s } = await shell();
      s.close(reason as never, `it was ${reason}`);
      assert.equal(await refusedWith(c, code, close), `it was ${reason}`);
    }
  });
});

describe("several participants", () => {
  test("a viewer joins: recent output first, read-only with one notice; a grant lets it type; taken back", async () => {
    const { c: owner, s } = await shell("admin");
    const input = devInput(s);
    s.dev.write("before-join\r\n");
    await owner.until("before-join");
    const v = await terminal(w.url, { headers: auth("ops2"), first: { type: "join", session: s.id } });
    assert.deepEqual(await v.next("ready"), {
      type: "ready",
      session: s.id,
      device: { id: "d1-0001", name: "robot-1" },
      role: "viewer",
      recorded: false,
      pty: { cols: 80, rows: 24 },
    });
    await v.until("before-join\r\n");
    const both = (m: { list: { user: string; role: string }[] }) => m.list.length === 2;
    for (const x of [owner, v])
      assert.deepEqual(
        (await x.next("participants", both)).list.map((p) => [p.user, p.role]),
        [
          ["admin", "owner"],
          ["ops2", "viewer"],
        ],
      );
    // Live output reaches both.
    s.dev.write("live\r\n");
    await owner.until("live");
    await v.until("live");
    // The viewer's input, resize and signal are dropped; it is told once.
    v.ch.write("rm -rf /\n");
    v.ch.resize(10, 10);
    v.ch.signal("KILL");
    const notice = await v.next("notice");
    assert.match(notice.message, /read-only/);
    owner.ch.write("owner-typed\n");
    await input.until("owner-typed\n");
    assert.equal(input.text(), "owner-typed\n", "nothing from the viewer reached the device");
    assert.equal(v.messages.filter((m) => m.type === "notice").length, 1);
    assert.deepEqual(s.pty, { cols: 80, rows: 24 });
    assert.equal(
      owner.messages.filter((m) => m.type === "size").length,
      0,
      "a refused resize is not announced",
    );
    // The owner resizes: the viewer is told the size, so it draws the same screen; the owner is not.
    owner.ch.resize(100, 30);
    assert.deepEqual(await v.next("size"), { type: "size", cols: 100, rows: 30 });
    assert.equal(owner.messages.filter((m) => m.type === "size").length, 0);
    // Only the owner grants.
    v.json({ type: "grant", user: "ops2", write: true });
    await v.next("notice", (m) => /only the session's owner/.test(m.message));
    owner.json({ type: "grant", user: "nobody", write: true });
    await owner.next("notice", (m) => /nobody is not watching/.test(m.message));
    // Granted: the viewer types.
    owner.json({ type: "grant", user: "ops2", write: true });
    await v.next("notice", (m) => /let you type/.test(m.message));
    const writer = (m: { list: { role: string }[] }) => m.list.some((p) => p.role === "writer");
    await owner.next("participants", writer);
    v.ch.write("viewer-typed\n");
    await input.until("viewer-typed\n");
    // Taken back: read-only again.
    owner.json({ type: "grant", user: "ops2", write: false });
    await v.next("notice", (m) => /read-only for you/.test(m.message));
    v.ch.write("again\n");
    await v.next(
      "notice",
      (m) => /input is ignored/.test(m.message) && v.messages.filter((x) => x.type === "notice").length > 3,
    );
    owner.ch.write("owner-again\n");
    await input.until("owner-again\n");
    assert.equal(input.text(), "owner-typed\nviewer-typed\nowner-again\n");
    // The viewer leaves: the owner sees one participant again.
    v.ws.close();
    await owner.next(
      "participants",
      (m) => m.list.length === 1 && owner.messages.filter((x) => x.type === "participants").length > 3,
    );
    // The owner leaves: the session closes.
    const ended = new Promise((r) => s.once("end", r));
    owner.ws.close();
    assert.equal(((await ended) as { reason: string }).reason, "closed");
  });

  test("when the owner leaves, every viewer is told and closed; at an exit every viewer gets it", async () => {
    const { c: owner, s } = await shell("admin");
    const v1 = await terminal(w.url, { headers: auth("ops"), first: { type: "join", session: s.id } });
    const v2 = await terminal(w.url, { headers: auth("ops2"), first: { type: "join", session: s.id } });
    await v1.next("ready");
    await v2.next("ready");
    owner.ws.close();
    for (const v of [v1, v2])
      assert.match(await refusedWith(v, "TETHER_ERR_TUNNEL_CLOSED", TUNNEL_CLOSE.normal), /admin closed/);

    const second = await shell("admin");
    const v3 = await terminal(w.url, { headers: auth("ops"), first: { type: "join", session: second.s.id } });
    await v3.next("ready");
    second.s.dev.write("bye\r\n");
    second.s.dev.exit(null, "TERM");
    for (const x of [second.c, v3]) {
      assert.deepEqual(await x.next("exit"), { type: "exit", code: null, signal: "TERM" });
      assert.equal((await x.closed).code, TUNNEL_CLOSE.normal);
      assert.match(x.out(), /bye/);
    }
  });

  test("join is refused for another project's user, an unknown or ended session, a bad id", async () => {
    const { c: owner, s } = await shell("admin");
    const stranger = await terminal(w.url, {
      headers: auth("stranger"),
      first: { type: "join", session: s.id },
    });
    await refusedWith(stranger, "TETHER_ERR_SESSION_NOT_FOUND", TUNNEL_CLOSE.refused);
    const unknown = await terminal(w.url, {
      headers: auth("ops"),
      first: { type: "join", session: "ses_00000000000000000000" },
    });
    await refusedWith(unknown, "TETHER_ERR_SESSION_NOT_FOUND", TUNNEL_CLOSE.refused);
    const badId = await terminal(w.url, { headers: auth("ops"), first: { type: "join", session: "../x" } });
    await refusedWith(badId, "TETHER_ERR_BAD_REQUEST", TUNNEL_CLOSE.protocol);
    owner.ws.close();
    await owner.closed;
    await new Promise<void>((r) => (s.ended ? r() : s.once("end", () => r())));
    const late = await terminal(w.url, { headers: auth("ops"), first: { type: "join", session: s.id } });
    await refusedWith(late, "TETHER_ERR_SESSION_NOT_FOUND", TUNNEL_CLOSE.refused);
  });

  test("the viewer limit: one more is refused", async () => {
    const small = await world({ maxViewers: 1 });
    try {
      const owner = await terminal(small.url, { headers: auth("admin"), first: OPEN });
      await owner.next("ready");
      const id = small.sessions[0].id;
      const v1 = await terminal(small.url, { headers: auth("ops"), first: { type: "join", session: id } });
      await v1.next("ready");
      const v2 = await terminal(small.url, { headers: auth("ops2"), first: { type: "join", session: id } });
      assert.match(await refusedWith(v2, "TETHER_ERR_TUNNEL_LIMIT", TUNNEL_CLOSE.refused), /1 viewers/);
    } finally {
      await small.close();
    }
  });

  test("a viewer that stops reading is disconnected once 1 MiB behind; the owner is not held by it", async () => {
    const { c: owner, s } = await shell("admin");
    const v = await terminal(w.url, {
      headers: auth("ops"),
      first: { type: "join", session: s.id },
      read: false,
    });
    await v.next("ready");
    await owner.next("participants", (m) => m.list.length === 2);
    const total = 3 * 1024 * 1024;
    let written = 0;
    const pump = () => {
      while (written < total) {
        written += 16 * 1024;
        if (!s.dev.write(Buffer.alloc(16 * 1024, 0x61))) return void s.dev.once("drain", pump);
      }
    };
    pump();
    assert.match(await refusedWith(v, "TETHER_ERR_TUNNEL_CLOSED", TUNNEL_CLOSE.normal), /too slow/);
    await owner.next("participants", (m) => m.list.length === 1);
    await new Promise<void>((resolve) => {
      const check = () =>
        owner.out().length === total ? resolve() : owner.ch.once("data", () => setImmediate(check));
      check();
    });
    owner.ws.close();
  });

  test("a user who loses access: their watching connections close (4009), their own shell is the layer's", async () => {
    const { c: owner, s } = await shell("ops");
    const v = await terminal(w.url, { headers: auth("ops2"), first: { type: "join", session: s.id } });
    await v.next("ready");
    const pending = await terminal(w.url, { headers: auth("ops2") });
    // Another project's change, or a role change that keeps operator, closes nothing.
    await w.endpoint.userChanged({ userId: 3, projectId: 2, kind: "role-changed" });
    w.roles.set(3, "admin");
    await w.endpoint.userChanged({ userId: 3, projectId: 1, kind: "role-changed" });
    s.dev.write("still watching\r\n");
    await v.until("still watching");
    // Below operator: closed.
    w.roles.set(3, "viewer");
    await w.endpoint.userChanged({ userId: 3, projectId: 1, kind: "role-changed" });
    await refusedWith(v, "TETHER_ERR_TUNNEL_CLOSED", TUNNEL_CLOSE.revoked);
    await refusedWith(pending, "TETHER_ERR_TUNNEL_CLOSED", TUNNEL_CLOSE.revoked);
    await owner.next(
      "participants",
      (m) => m.list.length === 1 && owner.messages.filter((x) => x.type === "participants").length > 2,
    );
    // The owner's own connection is left to the layer (which ends the session as revoked).
    await w.endpoint.userChanged({ userId: 2, kind: "access-revoked" });
    s.dev.write("still here\r\n");
    await owner.until("still here");
    w.roles.delete(3);
    // A revoked token closes the connections made with a token.
    const again = await terminal(w.url, { headers: auth("ops2"), first: { type: "join", session: s.id } });
    await again.next("ready");
    await w.endpoint.userChanged({ userId: 3, kind: "token-revoked" });
    await refusedWith(again, "TETHER_ERR_TUNNEL_CLOSED", TUNNEL_CLOSE.revoked);
    owner.ws.close();
  });
});
