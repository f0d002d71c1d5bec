// @matrix: once
/**
 * Issue 9, findings 3 and 7: stored command output and the size of a command.
 * 3. A reader cannot make the server hold copies of stored output: `?output=1` answers at most
 *    a page per stream (the rest is paged from disk through /output), the event stream copies
 *    the spool only as fast as the reader takes it (backpressure), and one user may hold only
 *    so many event streams open. Server RSS is measured before and after the attack (2 × 32
 *    MiB of stored output, several readers, idle streams that never read).
 * 4. A command whose `exec.start` message would exceed the control channel's 256 KiB limit is
 *    refused at POST /commands with 413 (it used to be accepted, dropped by the agent and
 *    reported "offline … it never ran" 30 s later); the CLI says so.
 * A real server process, a real agent, the real CLI.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import https from "node:https";
import { after, before, describe, test } from "node:test";
import { createCommand, finishedCommand } from "../../support/api-lookups.js";
import { userToken } from "../../support/api-lookups.js";
import { Cli, stopClis } from "../../support/cli-driver.js";
import { rssKiB } from "../../support/processes.js";
import {
  type AgentHandle,
  cleanupTempDirs,
  enrollOnline,
  makeApi,
  type ServerHandle,
  startServer,
  waitFor,
} from "../harness.js";

const NAME = "abuse-out-1";
const MiB = 1024 * 1024;
const BIG = 32 * MiB;
const MAX_STREAMS = 4;
/** Server RSS growth allowed under the attack (it was about 1,180 MiB before the fix, 20 after). */
const GROWTH_MiB = 96;

const rssMiB = (pid: number) => Math.round(rssKiB(pid) / 1024);

/** An event stream that is opened and then never read (the socket stays paused). */
function idleStream(
  server: ServerHandle,
  path: string,
  token: string,
): Promise<{ status: number; body: string; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(path, server.info.url), {
      ca: server.ca,
      headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
    });
    req.on("response", (res) => {
      const close = () => req.destroy();
      if (res.statusCode !== 200) {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode!, body, close }));
        return;
      }
      res.pause();
      resolve({ status: 200, body: "", close });
    });
    req.on("error", (err) => (req.destroyed ? undefined : reject(err)));
    req.end();
  });
}

describe("abuse: stored output and command size", () => {
  let server: ServerHandle;
  let agent: AgentHandle | undefined;
  let cli: Cli;
  before(async () => {
    server = await startServer({ env: { TETHER_EXEC_MAX_STREAMS: String(MAX_STREAMS) } });
    cli = new Cli(server);
    agent = (await enrollOnline(server, { name: NAME })).agent;
  });
  after(async () => {
    stopClis();
    await agent?.stop();
    await server?.stop();
    await cleanupTempDirs();
  });

  test("an exec.start over the 256 KiB message limit is refused with 413; the CLI says why", async () => {
    // About 420 KB of argv: under the 1 MiB body limit, over the control-message limit.
    const argv = ["echo", ...Array.from({ length: 7 }, (_, i) => `${i}`.repeat(60_000))];
    const r = await server.api.request("POST", "/api/v1/commands", { devices: [NAME], argv });
    assert.equal(r.status, 413, JSON.stringify(r.body).slice(0, 300));
    assert.equal(r.body.error.code, "TETHER_ERR_PAYLOAD_TOO_LARGE");
    assert.match(r.body.error.message, /262144 bytes/);
    // env and stdin count too: each alone fits, together they do not.
    const env = { BIG: "e".repeat(60_000), MORE: "m".repeat(60_000) };
    const stdin = Buffer.alloc(120 * 1024, 7).toString("base64");
    const both = await server.api.request("POST", "/api/v1/commands", {
      devices: [NAME],
      argv: ["cat"],
      env,
      stdin,
    });
    assert.equal(both.status, 413, JSON.stringify(both.body).slice(0, 300));
    assert.equal(
      (await server.api.request("POST", "/api/v1/commands", { devices: [NAME], argv: ["true"], env })).status,
      201,
    );
    const c = await cli.run(["exec", NAME, "--", ...argv]);
    assert.notEqual(c.code, 0);
    assert.match(c.stderr, /too large to send.*262144 bytes/);
    assert.equal(c.stdout, "");
  });

  test("2 x 32 MiB of stored output: paged answers, streams from disk with backpressure, a per-user stream bound", async () => {
    const cmd = await createCommand(server, {
      devices: [NAME],
      shell: true,
      argv: [`head -c ${BIG} /dev/zero | tr '\\0' a; head -c ${BIG} /dev/zero | tr '\\0' b >&2`],
      outputLimit: BIG,
      timeoutMs: 120_000,
    });
    await waitFor(
      async () => {
        const c = await server.api.call<any>("GET", `/api/v1/commands/${cmd.id}`);
        return c.finishedAt && c.runs[0].stdoutBytes === BIG && c.runs[0].stderrBytes === BIG;
      },
      "64 MiB of output stored",
      60_000,
    );
    const pid = server.proc.pid!;
    const viewer = await userToken(server, "olive", "viewer");
    const olive = makeApi(server.info.url, server.ca, viewer);
    const rssBefore = rssMiB(pid);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMiB(pid))), 10);

    // The attack: readers of ?output=1 and event streams that never read.
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => olive.call<any>("GET", `/api/v1/commands/${cmd.id}?output=1`)),
    );
    const streams = await Promise.all(
      Array.from({ length: MAX_STREAMS }, () =>
        idleStream(server, `/api/v1/commands/${cmd.id}/events`, viewer),
      ),
    );
    const admin = await idleStream(server, `/api/v1/commands/${cmd.id}/events`, server.token);
    // Let the server do what it would for a while (with backpressure it stops at the socket
    // buffers; without, it copies the spool into them): RSS is watched, the test fails fast.
    const until = Date.now() + 3000;
    while (Date.now() < until && rssPeak - rssBefore < GROWTH_MiB)
      await olive.call("GET", `/api/v1/commands/${cmd.id}`);
    clearInterval(sampler);
    const rssAttack = Math.max(rssPeak, rssMiB(pid));
    process.stdout.write(
      `# server RSS: ${rssBefore} MiB before, peak ${rssAttack} MiB under 4 x ?output=1 and ${MAX_STREAMS + 1} idle event streams on 2 x 32 MiB\n`,
    );
    assert.ok(
      rssAttack - rssBefore < GROWTH_MiB,
      `server RSS grew ${rssAttack - rssBefore} MiB under the attack (${rssBefore} → ${rssAttack})`,
    );

    // Readers of ?output=1 get a page per stream and where the rest starts.
    for (const a of answers) {
      const run = a.runs[0];
      assert.ok(run.stdout.length <= MiB, `stdout answered in part (${run.stdout.length})`);
      assert.equal(run.stdoutNext, run.stdout.length);
      assert.equal(run.stderrNext, run.stderr.length);
      assert.match(run.stdout.slice(0, 10), /^a+$/);
    }
    assert.deepEqual(
      [...streams, admin].map((s) => s.status),
      Array(MAX_STREAMS + 1).fill(200),
    );
    // One more stream for the same user is refused (another user was not affected).
    const extra = await idleStream(server, `/api/v1/commands/${cmd.id}/events`, viewer);
    assert.equal(extra.status, 429, extra.body);
    assert.equal(JSON.parse(extra.body).error.code, "TETHER_ERR_TOO_MANY_STREAMS");
    assert.match(JSON.parse(extra.body).error.message, /4 command event streams open/);

    // The whole output is still there, page by page (the SDK / CLI read it like this).
    const hash = createHash("sha256");
    let next: number | null = 0;
    let n = 0;
    while (next !== null) {
      const page: any = await olive.call(
        "GET",
        `/api/v1/commands/${cmd.id}/output?device=${NAME}&stream=stderr&offset=${next}`,
      );
      assert.equal(page.offset, next);
      const bytes = Buffer.from(page.data, "base64");
      assert.ok(bytes.length <= MiB);
      hash.update(bytes);
      n += bytes.length;
      next = page.next;
    }
    assert.equal(n, BIG);
    assert.equal(hash.digest("hex"), createHash("sha256").update(Buffer.alloc(BIG, "b")).digest("hex"));

    // A closed stream frees its place.
    streams[0].close();
    const again = await waitFor(async () => {
      const s = await idleStream(server, `/api/v1/commands/${cmd.id}/events`, viewer);
      if (s.status === 200) return s;
      s.close();
      return undefined;
    }, "a stream place freed");
    for (const s of [...streams, admin, again]) s.close();

    // A reader that takes everything gets everything: stream the events to the end.
    const full = await finishedCommand(server, cmd.id);
    assert.equal(full.runs?.[0].status, "succeeded");
  });

  test("tether commands show prints the whole output, fetched page by page; pages keep UTF-8 whole", async () => {
    // "é\n" is 3 bytes: the 1 MiB page boundary falls inside an "é".
    const lines = 1_100_000;
    const cmd = await createCommand(server, {
      devices: [NAME],
      argv: ["sh", "-c", `yes é | head -n ${lines}`],
      outputLimit: 8 * MiB,
    });
    await finishedCommand(server, cmd.id);
    const page = await server.api.call<any>("GET", `/api/v1/commands/${cmd.id}?output=1`);
    assert.equal(page.runs[0].stdoutEncoding, "utf8", "the page ends before the split character");
    assert.equal(page.runs[0].stdoutNext, MiB - 1);
    // The CLI (through the SDK) fetches the remaining pages and prints the whole output once.
    const text = await cli.run(["commands", "show", cmd.id]);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout.split("é\n").length - 1, lines);
    assert.ok(text.stdout.includes(`\n${"é\n".repeat(lines)}`));
  });
});
