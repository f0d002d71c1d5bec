// @matrix: once
// The SSH gateway's pure parts (docs/protocol.md §17.6): public-key lines checked as users give
// them (fingerprints equal to what the real ssh-keygen prints), the persisted host key, and what
// an SSH username names (DEVICE, DEVICE.PROJECT, dotted names) with a real SQLite store.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { TetherError } from "@tether/protocol";
import { Accounts } from "../src/accounts.js";
import { HOST_KEY_FILE, loadOrCreateHostKey } from "../src/capabilities/ssh/host-key.js";
import { parsePublicKey } from "../src/capabilities/ssh/keys.js";
import { tunnelSignal } from "../src/capabilities/ssh/session-channel.js";
import { resolveTarget } from "../src/capabilities/ssh/target.js";
import { openServerStore } from "../src/create-server.js";
import { Devices } from "../src/devices.js";
import type { Store } from "../src/store/db.js";
import { insertDevice } from "./support.js";

const root = mkdtempSync(join(tmpdir(), "tether-ssh-keys-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** A key pair made by the real ssh-keygen: [private path, public line, fingerprint as ssh-keygen -l prints it]. */
function keygen(
  name: string,
  args: string[],
  comment = `${name}@test`,
): { priv: string; pub: string; fp: string } {
  const priv = join(root, name);
  execFileSync("ssh-keygen", ["-q", "-N", "", "-C", comment, "-f", priv, ...args]);
  const fp = execFileSync("ssh-keygen", ["-l", "-f", `${priv}.pub`], { encoding: "utf8" }).split(" ")[1]!;
  return { priv, pub: readFileSync(`${priv}.pub`, "utf8"), fp };
}

const invalid = (fn: () => unknown, re: RegExp) =>
  assert.throws(
    fn,
    (e: unknown) => e instanceof TetherError && e.code === "TETHER_ERR_SSH_KEY_INVALID" && re.test(e.message),
  );

describe("parsePublicKey", () => {
  test("ed25519, ecdsa and rsa-2048 keys: type, bits, comment, and ssh-keygen's fingerprint", () => {
    for (const [name, args, type, bits] of [
      ["ed", ["-t", "ed25519"], "ssh-ed25519", 256],
      ["ec256", ["-t", "ecdsa", "-b", "256"], "ecdsa-sha2-nistp256", 256],
      ["ec521", ["-t", "ecdsa", "-b", "521"], "ecdsa-sha2-nistp521", 521],
      ["rsa2k", ["-t", "rsa", "-b", "2048"], "ssh-rsa", 2048],
    ] as const) {
      const k = keygen(name, [...args]);
      const p = parsePublicKey(k.pub);
      assert.equal(p.fingerprint, k.fp, name);
      assert.equal(p.type, type);
      assert.equal(p.bits, bits);
      assert.equal(p.comment, `${name}@test`);
      assert.equal(p.publicKey, k.pub.split(" ").slice(0, 2).join(" "));
    }
  });

  test("a key without a comment, and surrounding whitespace, are fine", () => {
    const k = keygen("nocomment", ["-t", "ed25519"], "");
    const p = parsePublicKey(`\n  ${k.pub.trim()}  \n`);
    assert.equal(p.comment, "");
    assert.equal(p.fingerprint, k.fp);
  });

  test("refused: private keys (without echoing them), short RSA, other types, garbage, several lines", () => {
    const ed = keygen("ed-refused", ["-t", "ed25519"]);
    const secret = readFileSync(ed.priv, "utf8");
    assert.throws(
      () => parsePublicKey(secret),
      (e: unknown) =>
        e instanceof TetherError &&
        e.code === "TETHER_ERR_SSH_KEY_INVALID" &&
        /private key/.test(e.message) &&
        !e.message.includes(secret.split("\n")[1]!),
    );
    invalid(() => parsePublicKey(keygen("rsa1k", ["-t", "rsa", "-b", "1024"]).pub), /at least 2048 bits/);
    invalid(() => parsePublicKey("ssh-dss AAAAB3NzaC1kc3MAAACBAP8= me"), /unsupported key type ssh-dss/);
    invalid(
      () => parsePublicKey("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5 me"),
      /unsupported key type/,
    );
    invalid(() => parsePublicKey("hello world"), /unsupported key type|not an OpenSSH/);
    invalid(() => parsePublicKey(""), /not an OpenSSH public key line/);
    invalid(() => parsePublicKey("ssh-ed25519 AAAA"), /damaged/);
    invalid(() => parsePublicKey(`${ed.pub}${ed.pub}`), /one public key/);
    invalid(() => parsePublicKey(`from="10.0.0.1" ${ed.pub}`), /unsupported key type|not an OpenSSH/);
    // The type word and the key inside must agree.
    const [, b64] = ed.pub.split(" ");
    invalid(() => parsePublicKey(`ssh-rsa ${b64}`), /not a valid ssh-rsa key|not ssh-rsa|damaged/);
    invalid(
      () => parsePublicKey(`${ed.pub.trim().split(" ").slice(0, 2).join(" ")} evil\u001b[2Jcomment`),
      /control characters/,
    );
    invalid(() => parsePublicKey(`${ed.pub.trim()}${"x".repeat(300)}`), /comment is longer/);
  });
});

describe("host key", () => {
  test("made once, mode 0600, same fingerprint after a reload, the one ssh-keygen prints", () => {
    const dir = mkdtempSync(join(root, "host-"));
    const a = loadOrCreateHostKey(dir);
    const file = join(dir, HOST_KEY_FILE);
    assert.equal((statSync(file).mode & 0o777).toString(8), "600");
    assert.match(a.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
    const b = loadOrCreateHostKey(dir);
    assert.equal(b.fingerprint, a.fingerprint);
    assert.equal(b.privateKey, a.privateKey);
    const printed = execFileSync("ssh-keygen", ["-l", "-f", `${file}.pub`], { encoding: "utf8" });
    assert.match(printed, new RegExp(`^256 ${a.fingerprint.replace(/[+/]/g, "\\$&")} .*\\(ED25519\\)`));
  });

  test("a damaged key file is an error that says what to do, not a silent new key", () => {
    const dir = mkdtempSync(join(root, "host-bad-"));
    writeFileSync(join(dir, HOST_KEY_FILE), "not a key\n", { mode: 0o600 });
    assert.throws(() => loadOrCreateHostKey(dir), /not an unencrypted OpenSSH private key.*move it away/);
  });
});

test("tunnelSignal: RFC 4254 names with or without SIG; unknown ones refused", () => {
  assert.equal(tunnelSignal("INT"), "INT");
  assert.equal(tunnelSignal("SIGTERM"), "TERM");
  assert.equal(tunnelSignal("usr1"), null);
  assert.equal(tunnelSignal(""), null);
});

describe("resolveTarget: what DEVICE[.PROJECT] names", () => {
  let store: Store;
  let accounts: Accounts;
  let devices: Devices;
  const ids: Record<string, number> = {};
  let alice: number;
  let nobody: number;

  before(async () => {
    store = await openServerStore(`sqlite:${join(root, "target.db")}`);
    accounts = new Accounts(store.db);
    devices = new Devices(store.db);
    for (const p of ["default", "lab", "acme.prod", "other"]) ids[p] = await accounts.ensureProject(p);
    alice = await accounts.createUser("alice", "a-long-enough-password", ids.default);
    await accounts.setRole(alice, ids.default!, "operator");
    await accounts.setRole(alice, ids.lab!, "viewer");
    await accounts.setRole(alice, ids["acme.prod"]!, "admin");
    nobody = await accounts.createUser("nobody", "a-long-enough-password");
    const dev = async (p: string, id: string, name: string) => {
      await insertDevice(store.db, ids[p]!, id);
      await store.db.updateTable("devices").set({ name }).where("id", "=", id).execute();
    };
    await dev("default", "d1", "robot-1");
    await dev("default", "d2", "robot.lab"); // a dotted name in the default project
    await dev("lab", "d3", "robot-1");
    await dev("acme.prod", "d4", "arm");
    await dev("other", "d5", "secret");
    await dev("default", "d6", "twin");
    await dev("default", "d7", "twin");
  });
  after(() => store?.close());

  const target = (u: string, user = alice) => resolveTarget(accounts, devices, user, u);

  test("DEVICE: by name or id in the user's default project", async () => {
    assert.deepEqual(await target("robot-1"), {
      projectId: ids.default,
      project: "default",
      role: "operator",
      deviceId: "d1",
      deviceName: "robot-1",
      problem: null,
    });
    assert.equal(((await target("d1")) as { deviceId: string }).deviceId, "d1");
  });

  test("DEVICE.PROJECT, dotted project names, and the user's role there", async () => {
    const lab = (await target("robot-1.lab")) as { deviceId: string; role: string; project: string };
    assert.deepEqual([lab.deviceId, lab.project, lab.role], ["d3", "lab", "viewer"]);
    const prod = (await target("arm.acme.prod")) as { deviceId: string; role: string };
    assert.deepEqual([prod.deviceId, prod.role], ["d4", "admin"]);
  });

  test("a dotted device name of the default project is found when the suffix project has no such device", async () => {
    const t = (await target("robot.lab")) as { deviceId: string; project: string };
    assert.deepEqual([t.deviceId, t.project], ["d2", "default"]);
  });

  test("not found, ambiguous, a project the user is not in: a problem reported after sign-in", async () => {
    const gone = (await target("ghost.lab")) as { deviceId: null; problem: string; project: string };
    assert.equal(gone.deviceId, null);
    assert.equal(gone.project, "lab");
    assert.equal(gone.problem, "no device ghost in project lab");
    const other = (await target("secret.other")) as { deviceId: null; problem: string };
    assert.equal(other.problem, "no device secret.other in project default");
    const twin = (await target("twin")) as { deviceId: null; problem: string };
    assert.match(twin.problem, /several .*devices are named twin; use the device id/);
  });

  test("refused outright: no project at all, or a username that cannot be a device", async () => {
    assert.deepEqual(await target("robot-1", nobody), { refused: "the user has no role in any project" });
    assert.ok("refused" in (await target("robot 1")));
    assert.ok("refused" in (await target("a".repeat(200))));
    assert.ok("refused" in (await target("")));
  });
});
