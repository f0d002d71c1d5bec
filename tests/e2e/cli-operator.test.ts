// @matrix: once
/**
 * The operator's view through the real CLI (a subprocess) against a real server and agents:
 * presence in `devices list`/`show` from the SDK's one helper; an id that cannot be a command's
 * is "no command X" (exit 4); a server that cannot be reached is exit 255 with one line for
 * every command; a bad selector is a usage error (exit 2) in the CLI and a 400
 * TETHER_ERR_BAD_SELECTOR from every API route that takes one; and a blocking
 * `exec --queue-ttl` says that it waits, for how long, and when each device starts.
 * One server for the file; the CLI is the bundle `npm run build` makes, built from the sources
 * first. Every wait is on an event (output, the API's state), never a sleep.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { runOf } from "../support/api-lookups.js";
import { buildCliBundle, Cli, type CliResult, expectExit, stopClis } from "../support/cli-driver.js";
import { killLeftovers } from "../support/processes.js";
import {
  type AgentHandle,
  cleanupTempDirs,
  createToken,
  enrollOnline,
  freePort,
  type ServerHandle,
  startAgent,
  startServer,
  tempDir,
  waitFor,
} from "./harness.js";

after(async () => {
  stopClis();
  killLeftovers();
  await cleanupTempDirs();
});

/** "HH:MM" of a local time, as the CLI prints a deadline within a day. */
const hhmm = (t: number) => {
  const d = new Date(t);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
};

describe("tether CLI, the operator's view", { concurrency: 1 }, () => {
  let server: ServerHandle;
  let cli: Cli;
  /** Online throughout. */
  let steady: AgentHandle;
  /** Taken offline by the queue tests and brought back. */
  let nomad: AgentHandle;
  /** Enrolled with a token that does not auto-accept: pending. */
  let waiting: AgentHandle;

  before(async () => {
    // The CLI as installed: bundled from the sources (also keeps this file's ~40 runs quick).
    const entry = buildCliBundle();
    server = await startServer();
    cli = new Cli(server, { entry });
    const token = await createToken(server.api, {});
    waiting = startAgent({
      dataDir: tempDir("cli-op-pending-"),
      url: server.info.url,
      token,
      name: "hopeful",
    });
    [steady, nomad] = (
      await Promise.all([
        enrollOnline(server, { name: "steady", labels: { grp: "q", site: "a" } }),
        enrollOnline(server, { name: "nomad", labels: { grp: "q", site: "b" } }),
      ])
    ).map((e) => e.agent);
    await waitFor(async () => {
      const r = await server.api.request("GET", "/api/v1/devices/hopeful");
      return r.status === 200 && r.body.state === "pending";
    }, "hopeful pending");
  });
  after(async () => {
    await Promise.all([steady?.stop(), nomad?.stop(), waiting?.stop()]);
    await server?.stop();
  });

  test("devices list/show: status and last seen from the SDK's presence helpers", async () => {
    const [list, show, json, ping] = await Promise.all([
      cli.run(["devices", "list"]),
      cli.run(["devices", "show", "steady"]),
      cli.json(["devices", "list"]),
      // Many requests and pauses on one stop signal: no listener pile-up warning.
      cli.run(["ping", "steady", "--count", "15", "--interval", "0.01", "--json"]),
    ]);
    expectExit(ping, 0, "ping");
    assert.equal(JSON.parse(ping.stdout).received, 15);
    assert.equal(ping.stderr, "", "no MaxListenersExceededWarning");
    expectExit(list, 0);
    const row = (name: string) => list.stdout.split("\n").find((l) => l.includes(` ${name} `)) ?? "";
    assert.match(list.stdout.split("\n")[0], /^ID\s+NAME\s+STATUS\s+LABELS\s+LAST SEEN\s*$/);
    const steadyDev = json.find((d: any) => d.name === "steady");
    assert.equal(typeof steadyDev.onlineSince, "string", "the API says since when it is online");
    assert.match(
      row("steady"),
      new RegExp(`\\sonline\\s.*online since ${hhmm(Date.parse(steadyDev.onlineSince))} \\(\\d+s\\)`),
    );
    assert.match(row("hopeful"), /\spending\s.*waiting for approval \((?:\d+m )?\d+s\)/);
    expectExit(show, 0);
    assert.match(show.stdout, /^status:\s+online$/m);
    assert.match(show.stdout, /^last seen:\s+online since \d\d:\d\d \(\d+s\)$/m);
  });

  test("commands show/cancel of an id that cannot be a command's: no command X, exit 4", async () => {
    const [show, cancel, real] = await Promise.all([
      cli.run(["commands", "show", "BADID"]),
      cli.run(["commands", "cancel", "BADID"]),
      cli.run(["commands", "show", `cmd_${"0".repeat(20)}`]),
    ]);
    for (const r of [show, cancel]) {
      expectExit(r, 4);
      assert.match(r.stderr, /^tether: no command BADID\b/);
      assert.doesNotMatch(r.stderr, /pattern|params/);
      assert.equal(r.stderr.trim().split("\n").length, 1, "one line");
    }
    expectExit(real, 4, "a well-formed id that does not exist");
    assert.match(real.stderr, /^tether: no command cmd_0{20}/);
  });

  test("server unreachable: every command exits 255 with one line naming the server", async () => {
    const port = await freePort(); // closed: nothing listens there
    const url = `https://127.0.0.1:${port}`;
    const env = { TETHER_URL: url };
    const commands = [
      ["devices", "list"],
      ["devices", "show", "steady"],
      ["commands", "list"],
      ["exec", "steady", "--", "true"],
      ["exec", "--selector", "grp=q", "--", "true"],
      ["ping", "steady", "-c", "1"],
      ["whoami"],
      ["token", "list"],
      ["audit", "list"],
      ["projects", "list"],
    ];
    const results = await Promise.all(commands.map((args) => cli.run(args, { env })));
    results.forEach((r: CliResult, i) => {
      const what = commands[i].join(" ");
      expectExit(r, 255, what);
      assert.equal(
        r.stderr,
        `tether: cannot reach the Tether server at ${url}: connection refused\n`,
        `${what}: one line, in words`,
      );
      assert.equal(r.stdout, "", what);
    });
  });

  test("a bad selector: CLI usage error (2) before any request; the API answers 400 TETHER_ERR_BAD_SELECTOR", async () => {
    const cases: [string, RegExp][] = [
      ["site=", /"site=" has no value: a selector is key=value/],
      ["=x", /"=x" has no key/],
      ["a", /"a" has no "="/],
      ["site==x", /"site==x" has more than one "="/],
      ["site=a,,grp=q", /empty pair/],
      ["si te=a", /bad key "si te"/],
    ];
    const runs = await Promise.all(
      cases.flatMap(([sel]) => [
        cli.run(["devices", "list", "--selector", sel]),
        cli.run(["exec", "--selector", sel, "--", "touch", "/nonexistent/never"]),
      ]),
    );
    cases.forEach(([sel, message], i) => {
      for (const r of [runs[2 * i], runs[2 * i + 1]]) {
        expectExit(r, 2, `--selector ${sel}`);
        assert.match(r.stderr, /^tether: bad --selector: /);
        assert.match(r.stderr, message);
      }
    });
    // Nothing was started by the refused exec.
    assert.deepEqual(await server.api.call("GET", "/api/v1/commands"), []);

    for (const [sel] of cases) {
      const list = await server.api.request("GET", `/api/v1/devices?selector=${encodeURIComponent(sel)}`);
      assert.equal(list.status, 400, `GET ?selector=${sel}`);
      assert.equal(list.body.error.code, "TETHER_ERR_BAD_SELECTOR");
      const run = await server.api.request("POST", "/api/v1/commands", { argv: ["true"], selector: sel });
      assert.equal(run.status, 400, `POST selector ${sel}`);
      assert.equal(run.body.error.code, "TETHER_ERR_BAD_SELECTOR");
      assert.doesNotMatch(run.body.error.message, /must match|pattern/);
    }
    // An empty selector on a command is not "every device" (that is `all`, for admins).
    const empty = await server.api.request("POST", "/api/v1/commands", { argv: ["true"], selector: " " });
    assert.equal(empty.status, 400);
    assert.equal(empty.body.error.code, "TETHER_ERR_BAD_SELECTOR");
    assert.deepEqual(await server.api.call("GET", "/api/v1/commands"), [], "no command was created");

    // The syntax that worked keeps working: labels, !=, facts; a blank list filter is no filter.
    const names = async (sel: string) =>
      (await server.api.call<any[]>("GET", `/api/v1/devices?selector=${encodeURIComponent(sel)}`))
        .map((d) => d.name)
        .sort();
    assert.deepEqual(await names("grp=q"), ["nomad", "steady"]);
    assert.deepEqual(await names(" grp = q , site!=b "), ["steady"]);
    const arch = (await server.api.call<any>("GET", "/api/v1/devices/steady")).facts.arch;
    assert.deepEqual(await names(`grp=q,fact.arch=${arch}`), ["nomad", "steady"]);
    assert.deepEqual(await names(""), ["hopeful", "nomad", "steady"]);
    const ok = await cli.json(["devices", "list", "--selector", "site!=b,grp=q"]);
    assert.deepEqual(
      ok.map((d: any) => d.name),
      ["steady"],
    );
  });

  test("exec --queue-ttl while a device is offline: says it waits and how long, then that it started", {
    timeout: 90_000,
  }, async () => {
    await nomad.stop();
    await waitFor(
      async () => !(await server.api.call<any>("GET", "/api/v1/devices/nomad")).online,
      "nomad offline",
    );
    /** Start a CLI and resolve once its stderr matches. */
    const startUntil = (args: string[], re: RegExp) => {
      const h = cli.start(args);
      let err = "";
      const seen = new Promise<string>((resolve, reject) => {
        h.proc.stderr!.on("data", (c: Buffer) => {
          err += c;
          if (re.test(err)) resolve(err);
        });
        h.proc.on("close", () => reject(new Error(`exited before ${re}: ${err}`)));
      });
      return { ...h, seen };
    };
    const t0 = Date.now();
    const single = startUntil(
      ["exec", "nomad", "--queue-ttl", "2h", "--", "echo", "worth the wait"],
      /is offline/,
    );
    const asJson = startUntil(
      ["exec", "nomad", "--queue-ttl", "2h", "--json", "--", "echo", "json"],
      /is offline/,
    );
    const fleet = startUntil(
      ["exec", "--selector", "grp=q", "--queue-ttl", "1h", "--", "echo", "fleet"],
      /are offline|is offline/,
    );
    const quitter = startUntil(["exec", "nomad", "--queue-ttl", "30m", "--", "echo", "never"], /is offline/);
    const [sErr, jErr, fErr, qErr] = await Promise.all([single.seen, asJson.seen, fleet.seen, quitter.seen]);
    const until = (ms: number) => [hhmm(t0 + ms), hhmm(Date.now() + ms)];
    assert.match(
      sErr,
      new RegExp(
        `^tether: nomad is offline: queued, waiting up to 2h \\(until (${until(7200_000).join("|")})\\); Ctrl-C cancels it\\n$`,
      ),
    );
    assert.match(
      jErr,
      /^tether: nomad is offline: queued, waiting up to 2h \(until \d\d:\d\d\); Ctrl-C cancels it\n$/,
    );
    assert.match(
      fErr,
      /tether: 1 of 2 devices is offline: queued, waiting up to 1h \(until \d\d:\d\d\); Ctrl-C cancels the command\n/,
    );
    assert.match(qErr, /waiting up to 30m/);

    // What the message says Ctrl-C does is what it does: the queued command is cancelled.
    quitter.proc.kill("SIGINT");
    const q = await quitter.result;
    expectExit(q, 130, "Ctrl-C");
    assert.match(q.stderr, /cancelling cmd_/);
    const cancelledId = /cancelling (cmd_[a-z0-9]{20})/.exec(q.stderr)![1];
    assert.equal((await runOf(server, cancelledId)).status, "cancelled");

    nomad = startAgent({ dataDir: nomad.dataDir });
    const [s, j, f] = await Promise.all([single.result, asJson.result, fleet.result]);
    expectExit(s, 0, "single");
    assert.equal(s.stdout, "worth the wait\n");
    assert.match(s.stderr, /\ntether: nomad is back: started\n$/);
    expectExit(j, 0, "--json");
    const run = JSON.parse(j.stdout);
    assert.equal(run.stdout, "json\n", "stdout is the JSON only");
    assert.match(j.stderr, /nomad is back: started/);
    expectExit(f, 0, "fleet");
    assert.match(f.stderr, /\ntether: nomad is back: started\n/);
    assert.equal((f.stderr.match(/is back/g) ?? []).length, 1, "only the queued device is announced");
    assert.match(f.stdout, /\[SUCCESS\] nomad/);
    assert.match(f.stdout, /\[SUCCESS\] steady/);

    // All online: nothing extra.
    const online = await cli.run(["exec", "--selector", "grp=q", "--queue-ttl", "1h", "--", "true"]);
    expectExit(online, 0);
    assert.doesNotMatch(online.stderr, /queued|offline|back/);
    const one = await cli.run(["exec", "steady", "--queue-ttl", "1h", "--", "true"]);
    expectExit(one, 0);
    assert.equal(one.stderr, "");
  });
});
