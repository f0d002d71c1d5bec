// @matrix: once
// Dynamic-security client and external-broker reconciliation against a real Mosquitto 2.0.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { deviceTopic } from "@tether/protocol";
import mqtt from "mqtt";
import { pino } from "pino";
import {
  type MosquittoHandle,
  mosquittoSkipReason,
  startMosquitto,
} from "../../../tests/support/mosquitto.js";
import { DynsecClient, readAdminFile } from "../src/broker/dynsec.js";
import {
  deviceRole,
  type ExternalBroker,
  SERVER_USERNAME,
  startExternalBroker,
} from "../src/broker/external.js";

const skip = mosquittoSkipReason();

function capture() {
  const lines: string[] = [];
  return { lines, log: pino({ level: "debug" }, { write: (s: string) => void lines.push(s) }) };
}

const A = "dev_aaaaaaaaaaaaaaaaaaaa";
const B = "dev_bbbbbbbbbbbbbbbbbbbb";
const C = "dev_cccccccccccccccccccc";
const D = "dev_dddddddddddddddddddd";

describe("dynsec client", { skip }, () => {
  let mosq: MosquittoHandle;
  let ds: DynsecClient;
  before(async () => {
    mosq = await startMosquitto();
    ds = await DynsecClient.connect({
      url: mosq.url,
      admin: readAdminFile(mosq.adminFile),
      log: pino({ level: "silent" }),
    });
  });
  after(async () => {
    await ds?.close();
    await mosq?.stop();
  });

  test("commands, batches and errors are correlated", async () => {
    assert.equal(
      await ds.createRole("r1", [{ acltype: "publishClientSend", topic: "a/b", allow: true }]),
      true,
    );
    assert.equal(await ds.createRole("r1", []), false, "already exists is not an error");
    assert.equal(
      await ds.createClient({ username: "u1", password: "p", clientid: "u1", roles: ["r1"] }),
      true,
    );
    assert.equal(await ds.createClient({ username: "u1", password: "p" }), false);
    const rs = await ds.run([
      { command: "getClient", username: "u1" },
      { command: "getClient", username: "nobody" },
      { command: "bogus" },
    ]);
    assert.equal(rs.length, 3);
    assert.equal(rs[0].data.client.username, "u1");
    assert.equal(rs[1].error, "Client not found");
    assert.equal(rs[2].error, "Unknown command");
    await assert.rejects(ds.setClientPassword("nobody", "x"), /Client not found/);
    await ds.disableClient("u1");
    assert.equal((await ds.getClient("u1"))?.disabled, true);
    await ds.enableClient("u1");
    assert.ok(!(await ds.getClient("u1"))?.disabled);
    assert.ok((await ds.listClients()).some((c) => c.username === "u1" && c.clientid === "u1"));
    assert.equal(await ds.deleteClient("u1"), true);
    assert.equal(await ds.deleteClient("u1"), false);
    assert.equal(await ds.deleteRole("r1"), true);
  });

  test("a request sent while the broker is down is retried and answered after it returns", async () => {
    const { log, lines } = capture();
    const ds2 = await DynsecClient.connect({
      url: mosq.url,
      admin: readAdminFile(mosq.adminFile),
      log,
      timeoutMs: 400,
      attempts: 8,
    });
    try {
      const restarting = mosq.restart();
      const listed = ds2.listRoles();
      await restarting;
      assert.ok((await listed).includes("admin"));
      assert.ok(
        lines.some((l) => l.includes("retrying")),
        "the retry was logged",
      );
    } finally {
      await ds2.close();
    }
    // The original client reconnected by itself too.
    assert.ok((await ds.listRoles()).includes("admin"));
  });

  test("no answer at all fails after the attempts, with a clear message", async () => {
    const { log, lines } = capture();
    const ds3 = await DynsecClient.connect({
      url: mosq.url,
      admin: readAdminFile(mosq.adminFile),
      log,
      timeoutMs: 100,
      attempts: 2,
    });
    try {
      // Stop answering: unsubscribe from the response topic.
      await (ds3 as any).mqtt.unsubscribeAsync("$CONTROL/dynamic-security/v1/response");
      await assert.rejects(ds3.listRoles(), /no answer within 100 ms after 2 attempts/);
      assert.ok(lines.some((l) => l.includes("giving up")));
    } finally {
      await ds3.close();
    }
  });

  test("a wrong admin password or a bad admin file is reported", async () => {
    await assert.rejects(
      DynsecClient.connect({
        url: mosq.url,
        admin: { username: "admin", password: "wrong" },
        log: pino({ level: "silent" }),
      }),
      /refused the dynsec admin "admin" \(CONNACK 5\)/,
    );
    const bad = join(mosq.dir, "bad.json");
    writeFileSync(bad, '{"user":"x"}');
    assert.throws(() => readAdminFile(bad), /must be JSON/);
  });
});

describe("external broker reconciliation", { skip }, () => {
  let mosq: MosquittoHandle;
  let ext: ExternalBroker;
  let ds: DynsecClient;
  const ups: string[] = [];
  const cap = capture();
  before(async () => {
    mosq = await startMosquitto();
    ds = await DynsecClient.connect({
      url: mosq.url,
      admin: readAdminFile(mosq.adminFile),
      log: pino({ level: "silent" }),
    });
    // A permissive default must be tightened at start.
    await ds.setDefaultACLAccess([{ acltype: "subscribe", allow: true }]);
    ext = await startExternalBroker({
      url: mosq.url,
      adminFile: mosq.adminFile,
      log: cap.log,
      hooks: { onUp: (id, p) => ups.push(`${id}:${p}`) },
    });
    await ext.start([]);
  });
  after(async () => {
    await ext?.close();
    await ds?.close();
    await mosq?.stop();
  });

  test("start tightens the default ACL access and creates the server's own client", async () => {
    const def = await ds.getDefaultACLAccess();
    assert.equal(def.acls.find((a) => a.acltype === "subscribe")?.allow, false);
    assert.equal(def.acls.find((a) => a.acltype === "publishClientSend")?.allow, false);
    const srv = await ds.getClient(SERVER_USERNAME);
    assert.deepEqual(
      srv?.roles.map((r) => r.rolename),
      ["tether-server"],
    );
  });

  test("a device's credential works on its own topics; the server gets its up frames", async () => {
    await ext.setCredential({ id: A, shard: 3 }, "pw-a");
    const c = await mqtt.connectAsync(mosq.url, {
      clientId: A,
      username: A,
      password: "pw-a",
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    try {
      const got: string[] = [];
      c.on("message", (_t, p) => got.push(p.toString()));
      await c.subscribeAsync(deviceTopic(3, A, "down"), { qos: 1 });
      await c.publishAsync(deviceTopic(3, A, "up"), "hi", { qos: 1 });
      await ext.publish(deviceTopic(3, A, "down"), Buffer.from("down-a"));
      await waitUntil(() => ups.includes(`${A}:hi`) && got.includes("down-a"));
      // A new password replaces the old one and closes the connection.
      const closed = new Promise<void>((r) => c.once("close", () => r()));
      await ext.setCredential({ id: A, shard: 3 }, "pw-a2");
      await closed;
    } finally {
      c.end(true);
    }
    const old = await mqtt
      .connectAsync(mosq.url, {
        clientId: A,
        username: A,
        password: "pw-a",
        protocolVersion: 4,
        reconnectPeriod: 0,
      })
      .then(
        (x) => {
          x.end(true);
          return "accepted";
        },
        (e) => e.code,
      );
    assert.equal(old, 5);
  });

  test("reconcile deletes, disables, enables, repairs, reports missing, and logs it", async () => {
    await ext.setCredential({ id: B, shard: 1 }, "pw-b");
    await ext.setCredential({ id: C, shard: 2 }, "pw-c");
    await ds.disableClient(C); // accepted in the DB: must be enabled again
    await ds.createClient({ username: D, password: "x", clientid: "wrong" }); // not in the DB
    await ds.createRole(deviceRole("dev_eeeeeeeeeeeeeeeeeeee"), []); // orphan role
    cap.lines.length = 0;
    const report = await ext.reconcile(
      [
        { id: A, shard: 3, state: "accepted", hs_counter: "5" },
        { id: B, shard: 1, state: "revoked", hs_counter: "5" },
        { id: C, shard: 2, state: "accepted", hs_counter: "5" },
        { id: "dev_ffffffffffffffffffff", shard: 0, state: "accepted", hs_counter: "9" },
      ],
      { kick: false },
    );
    assert.deepEqual(report.deleted, [D]);
    assert.deepEqual(report.disabled, [B]);
    assert.deepEqual(report.enabled, [C]);
    assert.deepEqual(report.missing, ["dev_ffffffffffffffffffff"]);
    assert.deepEqual(report.orphanRoles, ["tether-dev-dev_eeeeeeeeeeeeeeeeeeee"]);
    assert.equal(await ds.getClient(D), undefined);
    assert.equal((await ds.getClient(B))?.disabled, true);
    assert.ok(!(await ds.getClient(C))?.disabled);
    assert.ok(!(await ds.listRoles()).includes("tether-dev-dev_eeeeeeeeeeeeeeeeeeee"));
    const text = cap.lines.join("");
    assert.match(text, /cannot connect.*Re-enroll/);
    assert.match(text, /broker reconciliation done/);

    // A device's client that lost its role gets it back. (Never delete a role a client holds:
    // Mosquitto 2.0.11 crashes later.)
    await ds.run([{ command: "removeClientRole", username: C, rolename: deviceRole(C) }]);
    const r2 = await ext.reconcile([{ id: C, shard: 2, state: "accepted" }], { kick: false });
    assert.deepEqual(r2.repaired, [C]);
    const role = await ds.getRole(deviceRole(C));
    assert.ok(role?.acls.some((a) => a.topic === deviceTopic(2, C, "up") && a.allow));
  });

  test("disable and remove", async () => {
    await ext.setCredential({ id: A, shard: 3 }, "pw-a3");
    await ext.disable(A);
    assert.equal((await ds.getClient(A))?.disabled, true);
    await ext.remove(A);
    assert.equal(await ds.getClient(A), undefined);
    assert.ok(!(await ds.listRoles()).includes(deviceRole(A)));
    await ext.disable(A); // gone already: not an error
    await ext.remove(A);
  });
});

async function waitUntil(fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}
