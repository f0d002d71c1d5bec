// @matrix: once
// (The database behind sessions and keys is covered by terminal-ws, tunnel-layer and the store tests.)
/**
 * The SSH gateway end to end (docs/protocol.md §17.6): the real OpenSSH client (/usr/bin/ssh,
 * sftp, scp) against a real server process started with an SSH listener and a real agent on
 * loopback. Keys made by ssh-keygen and registered through the CLI and the REST API; refusals
 * (unknown key, a viewer's key, password auth); commands with their stdout, stderr and exit
 * status; a PTY shell; `ssh -L`; sftp and scp through the device's sftp-server; a removed key
 * ending its connection; an idle TCP connection cut by the pre-auth timeout; the host key kept
 * across a restart. Every wait is on a condition or a process's end, never a sleep.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { once } from "node:events";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, get as httpGet } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { userToken } from "../support/api-lookups.js";
import { Cli, expectExit, stopClis } from "../support/cli-driver.js";
import {
  type AgentHandle,
  cleanupTempDirs,
  enrollOnline,
  freePort,
  makeApi,
  ROOT,
  type ServerHandle,
  startServer,
  tempDir,
  waitFor,
} from "./harness.js";

const SFTP_SERVER = "/usr/lib/openssh/sftp-server";
/** Short, so the idle-connection test ends soon; a loopback sign-in takes a fraction of it. */
const PREAUTH_MS = 4000;

interface Key {
  priv: string;
  pub: string;
  fp: string;
}

const keyDir = tempDir("ssh-keys-");
function keygen(name: string, args: string[] = ["-t", "ed25519"]): Key {
  const priv = join(keyDir, name);
  execFileSync("ssh-keygen", ["-q", "-N", "", "-C", `${name}@test`, "-f", priv, ...args]);
  const fp = execFileSync("ssh-keygen", ["-l", "-f", `${priv}.pub`], { encoding: "utf8" }).split(" ")[1]!;
  return { priv, pub: readFileSync(`${priv}.pub`, "utf8").trim(), fp };
}

/** A fresh ed25519 public key line (node:crypto; ssh-keygen would take longer for 50 of them). */
function ed25519Line(): string {
  const raw = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from("ssh-ed25519")), str(raw)]).toString("base64")}`;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const running = new Set<ChildProcess>();

/** OpenSSH options for a test: no known_hosts, no agent, no config, only this key. */
const sshOpts = (key: string) => [
  "-F",
  "/dev/null",
  "-o",
  "StrictHostKeyChecking=no",
  "-o",
  "UserKnownHostsFile=/dev/null",
  "-o",
  "BatchMode=yes",
  "-o",
  "IdentitiesOnly=yes",
  "-o",
  "IdentityAgent=none",
  "-o",
  "LogLevel=ERROR",
  "-i",
  key,
];

function start(cmd: string, args: string[], input?: string) {
  const proc = spawn(cmd, args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
  running.add(proc);
  let stdout = "";
  let stderr = "";
  proc.stdout!.on("data", (c) => {
    stdout += c;
  });
  proc.stderr!.on("data", (c) => {
    stderr += c;
  });
  if (input !== undefined) proc.stdin!.end(input);
  const cap = setTimeout(() => proc.kill("SIGKILL"), 60_000);
  const result = new Promise<Run>((resolve) =>
    proc.on("close", (code) => {
      clearTimeout(cap);
      running.delete(proc);
      resolve({ code, stdout, stderr });
    }),
  );
  return { proc, result, out: () => stdout, err: () => stderr };
}

after(async () => {
  for (const p of running) p.kill("SIGKILL");
  stopClis();
  await cleanupTempDirs();
});

describe("SSH gateway", { concurrency: 1 }, () => {
  let server: ServerHandle;
  let sshPort: number;
  let cli: Cli;
  let agent: AgentHandle;
  let alice: Key;
  const ssh = (key: string, user: string, args: string[] = [], input?: string) =>
    start("ssh", [...sshOpts(key), "-p", String(sshPort), ...args, `${user}@127.0.0.1`], input);
  /** `ssh [opts] user@host CMD...` */
  const sshCmd = (key: string, user: string, cmd: string[], opts: string[] = [], input?: string) =>
    start("ssh", [...sshOpts(key), "-p", String(sshPort), ...opts, `${user}@127.0.0.1`, ...cmd], input);

  before(async () => {
    server = await startServer({
      env: {
        TETHER_SSH_LISTEN: "127.0.0.1:0",
        TETHER_LISTENER_LIMITS: JSON.stringify({ preauthTimeoutMs: PREAUTH_MS }),
      },
    });
    sshPort = (server.info as unknown as { sshPort: number }).sshPort;
    assert.ok(sshPort > 0, "server.json has the SSH port");
    cli = new Cli(server);
    agent = (await enrollOnline(server, { name: "robot-1" })).agent;
    // The admin's key, used by most tests below (the CLI's own test registers keys as erin).
    alice = keygen("alice");
    await server.api.call("POST", "/api/v1/ssh-keys", { key: alice.pub });
  });
  after(async () => {
    await agent?.stop();
    await server?.stop();
  });

  test("the host key: 0600 in the data dir, its fingerprint in server.json as ssh-keygen prints it", () => {
    const file = join(server.dataDir, "ssh_host_ed25519_key");
    assert.equal((statSync(file).mode & 0o777).toString(8), "600");
    const printed = execFileSync("ssh-keygen", ["-l", "-f", `${file}.pub`], { encoding: "utf8" }).split(
      " ",
    )[1];
    const info = JSON.parse(readFileSync(join(server.dataDir, "server.json"), "utf8"));
    assert.equal(info.sshFingerprint, printed);
    assert.equal(info.sshPort, sshPort);
  });

  test("an unregistered key is refused: Permission denied (publickey), exit 255", async () => {
    const r = await sshCmd(keygen("stranger").priv, "robot-1", ["echo", "hi"]).result;
    assert.equal(r.code, 255, r.stderr);
    assert.match(r.stderr, /Permission denied \(publickey\)/);
    assert.equal(r.stdout, "");
  });

  test("tether ssh-keys add/list/remove, with a bad key, a private key and a duplicate refused", async () => {
    const token = await userToken(server, "erin", "operator");
    const run = (args: string[], o: { input?: string } = {}) => cli.run(args, { ...o, token });
    const erin = keygen("erin");
    const added = await run(["ssh-keys", "add", `${erin.priv}.pub`]);
    expectExit(added, 0, "add");
    assert.equal(added.stdout, `added ${erin.fp} (ed25519, erin@test)\n`);

    const list = await cli.json<any[]>(["ssh-keys", "list"], { token });
    assert.deepEqual(
      list.map((k) => [k.fingerprint, k.type, k.bits, k.comment, k.lastUsedAt]),
      [[erin.fp, "ssh-ed25519", 256, "erin@test", null]],
    );
    const table = await run(["ssh-keys", "list"]);
    expectExit(table, 0, "list");
    assert.match(table.stdout, /FINGERPRINT\s+TYPE\s+COMMENT\s+ADDED\s+LAST USED/i);
    assert.match(
      table.stdout,
      new RegExp(`${erin.fp.replace(/[+/]/g, "\\$&")}\\s+ed25519\\s+erin@test\\s+\\S+ \\S+\\s+never`),
    );

    const dup = await run(["ssh-keys", "add", "-"], { input: `${erin.pub}\n` });
    expectExit(dup, 1, "duplicate");
    assert.match(dup.stderr, /already registered/);

    const priv = await run(["ssh-keys", "add", erin.priv]);
    expectExit(priv, 2, "private key");
    assert.match(priv.stderr, /is a private key: give the public key.*nothing was sent/);

    const garbage = join(keyDir, "garbage.pub");
    writeFileSync(garbage, "ssh-ed25519 AAAAnotakey me\n");
    const bad = await run(["ssh-keys", "add", garbage]);
    expectExit(bad, 1, "bad key");
    assert.match(bad.stderr, /not a valid ssh-ed25519 key/);

    const short = keygen("short", ["-t", "rsa", "-b", "1024"]);
    const weak = await run(["ssh-keys", "add", `${short.priv}.pub`]);
    expectExit(weak, 1, "rsa-1024");
    assert.match(weak.stderr, /at least 2048 bits/);

    const missing = await run(["ssh-keys", "add", join(keyDir, "nope.pub")]);
    expectExit(missing, 2, "missing file");

    const gone = await run(["ssh-keys", "remove", "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]);
    expectExit(gone, 4, "remove unknown");
    expectExit(await run(["ssh-keys", "remove", "nonsense"]), 2, "remove bad fingerprint");

    const extra = keygen("extra");
    expectExit(await run(["ssh-keys", "add", `${extra.priv}.pub`]), 0, "add extra");
    const removed = await run(["ssh-keys", "remove", extra.fp]);
    expectExit(removed, 0, "remove");
    assert.equal(removed.stdout, `removed ${extra.fp}\n`);
    assert.deepEqual(
      (await cli.json<any[]>(["ssh-keys", "list"], { token })).map((k) => k.fingerprint),
      [erin.fp],
    );
    const audit = await server.api.call<any[]>("GET", "/api/v1/audit?action=ssh-key.*&actor=erin");
    assert.deepEqual(
      audit.map((e) => [e.action, e.detail.fingerprint]),
      [
        ["ssh-key.remove", extra.fp],
        ["ssh-key.add", extra.fp],
        ["ssh-key.add", erin.fp],
      ],
    );
  });

  test("REST: keys are per user, bad input refused with its code, DELETE takes the URL-encoded fingerprint", async () => {
    const bob = makeApi(server.info.url, server.ca, await userToken(server, "bob", "operator"));
    assert.deepEqual(await bob.call("GET", "/api/v1/ssh-keys"), [], "bob does not see alice's keys");
    for (const [key, code] of [
      ["", 400],
      ["ssh-dss AAAAB3NzaC1kc3MAAACBAP8= old", 400],
      ["-----BEGIN OPENSSH PRIVATE KEY-----", 400],
    ] as const) {
      const r = await bob.request("POST", "/api/v1/ssh-keys", { key });
      assert.equal(r.status, code, JSON.stringify(r.body));
    }
    const bad = await bob.request("POST", "/api/v1/ssh-keys", { key: "ssh-ed25519 AAAA" });
    assert.equal(bad.body.error.code, "TETHER_ERR_SSH_KEY_INVALID");
    // The admin's key: another user can neither register it again nor remove it.
    const admins = keygen("admin-rest");
    await server.api.call("POST", "/api/v1/ssh-keys", { key: admins.pub });
    const taken = await bob.request("POST", "/api/v1/ssh-keys", { key: admins.pub });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.error.code, "TETHER_ERR_SSH_KEY_EXISTS");
    const extra = await bob.request("POST", "/api/v1/ssh-keys", { key: "x", other: 1 });
    assert.equal(extra.status, 400, "unknown fields refused");
    const notMine = await bob.request("DELETE", `/api/v1/ssh-keys/${encodeURIComponent(admins.fp)}`);
    assert.equal(notMine.status, 404);
    assert.equal(notMine.body.error.code, "TETHER_ERR_SSH_KEY_NOT_FOUND");
    await server.api.call("DELETE", `/api/v1/ssh-keys/${encodeURIComponent(admins.fp)}`);
    const k = keygen("bob", ["-t", "ecdsa", "-b", "256"]);
    const added = await bob.call<any>("POST", "/api/v1/ssh-keys", { key: k.pub });
    assert.equal(added.fingerprint, k.fp);
    assert.equal(added.type, "ecdsa-sha2-nistp256");
    await bob.call("DELETE", `/api/v1/ssh-keys/${encodeURIComponent(k.fp)}`);
    assert.deepEqual(await bob.call("GET", "/api/v1/ssh-keys"), []);
  });

  test("at most 50 keys per user: the 51st is refused and says so", async () => {
    const carl = makeApi(server.info.url, server.ca, await userToken(server, "carl", "viewer"));
    for (let i = 0; i < 50; i++)
      await carl.call("POST", "/api/v1/ssh-keys", { key: `${ed25519Line()} k${i}` });
    const r = await carl.request("POST", "/api/v1/ssh-keys", { key: ed25519Line() });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /already have 50 SSH keys, the most one user may register/);
    assert.equal((await carl.call<any[]>("GET", "/api/v1/ssh-keys")).length, 50);
  });

  test("a viewer's registered key is refused (Permission denied) and the server log says why", async () => {
    const vera = makeApi(server.info.url, server.ca, await userToken(server, "vera", "viewer"));
    const k = keygen("vera");
    await vera.call("POST", "/api/v1/ssh-keys", { key: k.pub });
    const r = await sshCmd(k.priv, "robot-1", ["echo", "hi"]).result;
    assert.equal(r.code, 255, r.stderr);
    assert.match(r.stderr, /Permission denied \(publickey\)/);
    await waitFor(
      () => /refused vera for robot-1: the viewer role in project default/.test(server.stderr()),
      "the log line",
    );
  });

  test("password and keyboard-interactive are not offered", async () => {
    const r = await sshCmd(
      alice.priv,
      "robot-1",
      ["true"],
      ["-o", "PreferredAuthentications=password,keyboard-interactive"],
    ).result;
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Permission denied \(publickey\)/);
  });

  test("at most 6 failed sign-in attempts per connection: a good 7th key is not even tried", async () => {
    const strangers = [1, 2, 3, 4, 5, 6].map((i) => keygen(`many-${i}`));
    const args = [...sshOpts(alice.priv)];
    // -i adds identities in order: the six unknown keys first, alice's (registered) last.
    const at = args.indexOf("-i");
    args.splice(at, 2, ...strangers.flatMap((k) => ["-i", k.priv]), "-i", alice.priv);
    const r = await start("ssh", [...args, "-p", String(sshPort), "robot-1@127.0.0.1", "echo", "in"]).result;
    assert.equal(r.code, 255, r.stderr);
    assert.equal(r.stdout, "");
    await waitFor(
      () => /closed a connection after 6 failed sign-in attempts/.test(server.stderr()),
      "the log line",
    );
    // The same key first in line signs in.
    const ok = await sshCmd(alice.priv, "robot-1", ["echo", "in"]).result;
    assert.equal(ok.stdout, "in\n", ok.stderr);
  });

  test("ssh DEVICE CMD: stdout and stderr apart, the exit status, and last used updated", async () => {
    const r = await sshCmd(alice.priv, "robot-1", ["echo hi; echo oops >&2; exit 7"]).result;
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, "hi\n");
    assert.equal(r.stderr, "oops\n");
    const [k] = await cli.json<any[]>(["ssh-keys", "list"]);
    assert.ok(k.lastUsedAt, "last used is set");
  });

  test("stdin reaches the command, EOF ends it; the id and DEVICE.PROJECT forms work", async () => {
    const device = await server.api.call<any>("GET", "/api/v1/devices/robot-1");
    const r = await sshCmd(alice.priv, "robot-1.default", ["wc", "-c"], [], "x".repeat(100_000)).result;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "100000");
    const byId = await sshCmd(alice.priv, device.id, ["echo", "by-id"]).result;
    assert.equal(byId.code, 0, byId.stderr);
    assert.equal(byId.stdout, "by-id\n");
  });

  test("a process killed by a signal, and a large output, come through whole", async () => {
    const big = await sshCmd(alice.priv, "robot-1", ["head -c 3000000 /dev/zero | tr '\\0' a"]).result;
    assert.equal(big.code, 0, big.stderr);
    assert.equal(big.stdout.length, 3_000_000);
    const killed = await sshCmd(alice.priv, "robot-1", ["kill -TERM $$"]).result;
    assert.notEqual(killed.code, 0);
  });

  test("ssh -tt: a shell on a PTY reads a prompt, runs a command, exits with its status", async () => {
    // Fed as a user types: wait for the prompt, then a command, then exit.
    const p = spawn("ssh", [...sshOpts(alice.priv), "-tt", "-p", String(sshPort), "robot-1@127.0.0.1"], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    running.add(p);
    let out = "";
    p.stdout!.on("data", (c) => {
      out += c;
    });
    p.stdin!.write("export PS1='tether-prompt> '\n");
    await waitFor(() => out.includes("tether-prompt> "), "a prompt");
    p.stdin!.write("tty; stty size\n");
    await waitFor(() => /\/dev\/pts\/\d+/.test(out), "tty output");
    p.stdin!.write("exit 3\n");
    const [code] = await once(p, "close");
    running.delete(p);
    assert.equal(code, 3, out);
  });

  test("an unknown or offline device: accepted, then `tether: …` on stderr and exit 255", async () => {
    const unknown = await sshCmd(alice.priv, "no-such-robot", ["true"]).result;
    assert.equal(unknown.code, 255);
    assert.match(unknown.stderr, /tether: no device no-such-robot in project default/);

    const { agent: gone } = await enrollOnline(server, { name: "robot-off" });
    await gone.stop();
    await waitFor(
      async () => !(await server.api.call<any>("GET", "/api/v1/devices/robot-off")).online,
      "robot-off offline",
    );
    const off = await sshCmd(alice.priv, "robot-off", ["true"]).result;
    assert.equal(off.code, 255);
    assert.match(off.stderr, /tether: device robot-off is offline/);
  });

  test("ssh -L carries an HTTP request to a server on the device's loopback; other destinations are refused", async () => {
    const web = createHttpServer((req, res) => res.end(`hello from ${req.url}`));
    web.listen(0, "127.0.0.1");
    await once(web, "listening");
    const webPort = (web.address() as AddressInfo).port;
    const local = await freePort();
    const fwd = ssh(alice.priv, "robot-1", [
      "-N",
      "-o",
      "ExitOnForwardFailure=yes",
      "-L",
      `127.0.0.1:${local}:127.0.0.1:${webPort}`,
    ]);
    try {
      const body = await waitFor(
        () =>
          new Promise<string | undefined>((resolve) => {
            const req = httpGet(`http://127.0.0.1:${local}/through-ssh`, (res) => {
              let b = "";
              res.on("data", (c) => {
                b += c;
              });
              res.on("end", () => resolve(b));
            });
            req.on("error", () => resolve(undefined));
          }),
        "the forwarded HTTP answer",
      );
      assert.equal(body, "hello from /through-ssh");
    } finally {
      fwd.proc.kill();
      await fwd.result;
      web.close();
    }

    // A destination off the allow-list (default: the device's loopback only): the channel is refused.
    const local2 = await freePort();
    // LogLevel INFO (later options do not override earlier ones: put it first) so ssh prints "open failed".
    const refused = start("ssh", [
      "-o",
      "LogLevel=INFO",
      ...sshOpts(alice.priv),
      "-p",
      String(sshPort),
      "-N",
      "-L",
      `127.0.0.1:${local2}:10.255.255.1:80`,
      "robot-1@127.0.0.1",
    ]);
    try {
      const closedAtOnce = await waitFor(
        () =>
          new Promise<boolean | undefined>((resolve) => {
            const s = connect(local2, "127.0.0.1");
            s.on("error", () => resolve(undefined));
            s.on("connect", () => {
              s.on("data", () => resolve(false));
              s.on("close", () => resolve(true));
            });
          }),
        "a refused forward channel",
      );
      assert.equal(closedAtOnce, true);
      await waitFor(() => /open failed/.test(refused.err()), "ssh reports the refusal");
    } finally {
      refused.proc.kill();
      await refused.result;
    }
  });

  test("sftp ls/get and scp through the device's sftp-server", {
    skip: !existsSync(SFTP_SERVER) && `no ${SFTP_SERVER} (apt-get install openssh-sftp-server)`,
  }, async () => {
    const dir = tempDir("ssh-sftp-");
    writeFileSync(join(dir, "remote.txt"), "over sftp\n");
    const dest = tempDir("ssh-sftp-dest-");
    const batch = join(dest, "batch");
    writeFileSync(batch, `ls ${dir}\nget ${join(dir, "remote.txt")} ${join(dest, "got.txt")}\n`);
    const r = await start("sftp", [
      ...sshOpts(alice.priv),
      "-P",
      String(sshPort),
      "-b",
      batch,
      "robot-1@127.0.0.1",
    ]).result;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /remote\.txt/);
    assert.equal(readFileSync(join(dest, "got.txt"), "utf8"), "over sftp\n");

    mkdirSync(join(dest, "scp"));
    const up = await start("scp", [
      ...sshOpts(alice.priv),
      "-P",
      String(sshPort),
      join(dir, "remote.txt"),
      `robot-1@127.0.0.1:${join(dest, "scp", "copied.txt")}`,
    ]).result;
    assert.equal(up.code, 0, up.stderr);
    assert.equal(readFileSync(join(dest, "scp", "copied.txt"), "utf8"), "over sftp\n");
  });

  test("rsync over ssh (an exec of rsync --server on the device)", {
    skip: !existsSync("/usr/bin/rsync") && "no rsync",
  }, async () => {
    const src = tempDir("ssh-rsync-src-");
    const dest = tempDir("ssh-rsync-dest-");
    writeFileSync(join(src, "a.txt"), "rsync me\n".repeat(1000));
    const r = await start("rsync", [
      "-a",
      "-e",
      ["ssh", ...sshOpts(alice.priv), "-p", String(sshPort)].join(" "),
      `${src}/`,
      `robot-1@127.0.0.1:${dest}/`,
    ]).result;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(dest, "a.txt"), "utf8"), "rsync me\n".repeat(1000));
  });

  test("removing a key ends the SSH connections it opened, with a message", async () => {
    const k = keygen("temp");
    expectExit(await cli.run(["ssh-keys", "add", `${k.priv}.pub`]), 0, "add");
    const s = sshCmd(k.priv, "robot-1", ["echo started; sleep 600"]);
    await waitFor(() => s.out().includes("started"), "the command started");
    expectExit(await cli.run(["ssh-keys", "remove", k.fp]), 0, "remove");
    const r = await s.result;
    assert.equal(r.code, 255);
    assert.match(r.stderr, /tether: the SSH key of this connection was removed/);
    const again = await sshCmd(k.priv, "robot-1", ["true"]).result;
    assert.match(again.stderr, /Permission denied/);
  });

  test("a user removed from the project: their open SSH session ends at once", async () => {
    const dana = makeApi(server.info.url, server.ca, await userToken(server, "dana", "operator"));
    const k = keygen("dana");
    await dana.call("POST", "/api/v1/ssh-keys", { key: k.pub });
    const s = sshCmd(k.priv, "robot-1", ["echo started; sleep 600"]);
    await waitFor(() => s.out().includes("started"), "the command started");
    await server.api.call("DELETE", "/api/v1/users/dana");
    const r = await s.result;
    assert.equal(r.code, 255);
    assert.match(r.stderr, /tether: .*(no longer ha|access)/);
  });

  test("one connection, several channels: a command and -L forwards are sessions that all end with the connection", async () => {
    const web = createHttpServer((req, res) => res.end(`n=${req.url}`));
    web.listen(0, "127.0.0.1");
    await once(web, "listening");
    const webPort = (web.address() as AddressInfo).port;
    const local = await freePort();
    const sessions = async () =>
      (await server.api.call<{ sessions: any[] }>("GET", "/api/v1/sessions?limit=200")).sessions;
    const before = new Set((await sessions()).map((x) => x.id));
    const c = sshCmd(
      alice.priv,
      "robot-1",
      ["echo started; sleep 600"],
      ["-L", `127.0.0.1:${local}:127.0.0.1:${webPort}`],
    );
    try {
      await waitFor(() => c.out().includes("started"), "the command started");
      const get = (i: number) =>
        new Promise<string>((resolve, reject) => {
          httpGet(`http://127.0.0.1:${local}/${i}`, (res) => {
            let b = "";
            res.on("data", (d) => {
              b += d;
            });
            res.on("end", () => resolve(b));
          }).on("error", reject);
        });
      // Several TCP connections at once over the one forward session.
      assert.deepEqual(
        await Promise.all([1, 2, 3, 4, 5].map(get)),
        [1, 2, 3, 4, 5].map((i) => `n=/${i}`),
      );
      const mine = async () => (await sessions()).filter((x) => !before.has(x.id));
      const live = await waitFor(async () => {
        const l = (await mine()).filter((x) => x.live);
        return l.length === 2 ? l : undefined;
      }, "a command session and a forward session");
      assert.deepEqual(live.map((x) => [x.kind, x.via]).sort(), [
        ["command", "ssh"],
        ["forward", "ssh"],
      ]);
      c.proc.kill("SIGKILL"); // the client vanishes without a goodbye
      await waitFor(
        async () => (await mine()).every((x) => !x.live),
        "every session of the connection ended",
        60_000,
      );
    } finally {
      c.proc.kill("SIGKILL");
      web.close();
    }
  });

  test("pre-auth: an idle TCP connection is closed after the pre-auth timeout", async () => {
    const s = connect(sshPort, "127.0.0.1");
    let banner = "";
    s.on("data", (c) => {
      banner += c;
    });
    s.on("error", () => {});
    await once(s, "close");
    assert.match(banner, /^SSH-2\.0-Tether/);
  });
});

describe("SSH gateway host key across a restart", () => {
  test("the same fingerprint after a restart on the same data dir", async () => {
    const env = { TETHER_SSH_LISTEN: "127.0.0.1:0" };
    const first = await startServer({ env });
    const fp = (first.info as unknown as { sshFingerprint: string }).sshFingerprint;
    assert.match(fp, /^SHA256:[A-Za-z0-9+/]{43}$/);
    await first.stop();
    const again = await startServer({ dataDir: first.dataDir, env });
    try {
      assert.equal((again.info as unknown as { sshFingerprint: string }).sshFingerprint, fp);
      const info = JSON.parse(readFileSync(join(again.dataDir, "server.json"), "utf8"));
      assert.equal(info.sshFingerprint, fp);
    } finally {
      await again.stop();
    }
  });

  test("without --ssh-listen there is no SSH port and no host key", async () => {
    const plain = await startServer();
    try {
      const info = JSON.parse(readFileSync(join(plain.dataDir, "server.json"), "utf8"));
      assert.equal(info.sshPort, undefined);
      assert.equal(existsSync(join(plain.dataDir, "ssh_host_ed25519_key")), false);
    } finally {
      await plain.stop();
    }
  });
});

describe("tether server --ssh-listen", () => {
  test("prints the SSH port and the host key fingerprint beside the other endpoints", async () => {
    const dataDir = join(tempDir(), "server");
    const srv = start(process.execPath, [
      "--import",
      "tsx",
      "--conditions=source",
      join(ROOT, "packages/cli/src/main.ts"),
      "server",
      "--data",
      dataDir,
      "--listen",
      "127.0.0.1:0",
      "--mqtt-listen",
      "127.0.0.1:0",
      "--ssh-listen",
      "127.0.0.1:0",
    ]);
    try {
      await waitFor(() => {
        if (srv.proc.exitCode !== null) throw new Error(`tether server exited: ${srv.err().slice(-2000)}`);
        return /is running/.test(srv.out());
      }, "tether server to start");
      const info = JSON.parse(readFileSync(join(dataDir, "server.json"), "utf8"));
      assert.ok(info.sshPort > 0);
      const lines = srv.out().split("\n");
      assert.ok(lines.includes(`  SSH:      ssh -p ${info.sshPort} DEVICE@127.0.0.1`), srv.out());
      assert.ok(lines.includes(`  SSH host key:   ${info.sshFingerprint} (ED25519)`), srv.out());
    } finally {
      srv.proc.kill("SIGTERM");
      await srv.result;
    }
  });
});
