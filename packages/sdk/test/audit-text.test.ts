// @matrix: once
// The audit sentences (console and CLI): every action the server writes has its own sentence
// with names rather than ids; an unknown action still reads as a sentence.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { AUDIT_ACTIONS, type AuditEntry, auditSentence, auditText } from "../src/index.js";

const DEV = "dev_8f3a2c";

function entry(action: string, detail: Record<string, unknown>, o: Partial<AuditEntry> = {}): AuditEntry {
  return {
    id: 1,
    at: "2026-05-01T12:00:00.000Z",
    actor: "alice",
    action,
    project: "default",
    deviceId: null,
    detail,
    ...o,
  };
}
const onDevice = (action: string, detail: Record<string, unknown> = {}, o: Partial<AuditEntry> = {}) =>
  entry(action, { name: "robot-7", ...detail }, { deviceId: DEV, deviceName: "robot-7", ...o });

test("sentences for device and command actions use names", () => {
  const cases: [AuditEntry, string][] = [
    [
      onDevice("command.run", { command: "cmd_1", argv: ["uptime"], shell: false, env: [] }),
      "alice ran `uptime` on robot-7",
    ],
    [
      onDevice("command.run", {
        command: "cmd_1",
        argv: ["ls -l /"],
        shell: true,
        user: "deploy",
        cwd: "/srv",
      }),
      "alice ran `ls -l /` on robot-7 as deploy in `/srv`",
    ],
    [onDevice("command.run", { argv: ["echo", "a b"], shell: false }), "alice ran `echo 'a b'` on robot-7"],
    [
      onDevice("device.accept", { fingerprint: "SHA256:abc" }, { actor: "admin" }),
      "admin accepted robot-7 (fingerprint SHA256:abc)",
    ],
    [onDevice("device.reject"), "alice rejected robot-7"],
    [onDevice("device.revoke", { steps: ["broker"] }, { actor: "bob" }), "bob revoked robot-7"],
    [onDevice("device.delete"), "alice deleted robot-7"],
    [
      onDevice("device.rename", { name: "robot-6", from: "robot-6", to: "robot-7" }),
      "alice renamed robot-6 to robot-7",
    ],
    [
      onDevice("device.rename", { name: "a", from: "a", to: "b" }, { deviceName: "c" }),
      "alice renamed a to b (c)",
    ],
    [
      onDevice("device.label", { changes: { site: "lab", old: null } }),
      "alice changed the labels of robot-7: set site=lab; removed old",
    ],
    [
      onDevice("device.rotate-credential", { mid: 4 }),
      "alice rotated the broker credential and telemetry token of robot-7",
    ],
    [
      onDevice(
        "device.enroll",
        { state: "pending", fingerprint: "fp1", sourceAddress: "10.0.0.7" },
        { actor: `device:${DEV}` },
      ),
      "robot-7 enrolled from 10.0.0.7 (fingerprint fp1); waiting for an operator to accept it",
    ],
    [
      onDevice("device.enroll", { state: "accepted", fingerprint: "fp1" }, { actor: `device:${DEV}` }),
      "robot-7 enrolled (fingerprint fp1); accepted automatically",
    ],
    [
      onDevice("device.credential-applied", { mid: 4 }, { actor: `device:${DEV}` }),
      "robot-7 stored its new broker credential",
    ],
    [
      entry("command.cancel", { command: "cmd_0123456789abcdef", killed: 1, dropped: 2 }),
      "alice cancelled command cmd_01234567… (stopped 1 running device, dropped it on 2 waiting devices)",
    ],
  ];
  for (const [e, want] of cases) assert.equal(auditText(e), want);
});

test("sentences for accounts, projects and tokens", () => {
  const cases: [AuditEntry, string][] = [
    [
      entry("user.grant", { username: "bob", role: "operator", created: true }),
      "alice created the user bob as operator",
    ],
    [
      entry("user.grant", { username: "bob", role: "admin", from: "viewer" }),
      "alice changed the role of bob from viewer to admin",
    ],
    [entry("user.grant", { username: "bob", role: "admin" }), "alice made bob an admin"],
    [entry("user.remove", { username: "bob" }), "alice removed bob from the project"],
    [
      entry("user.revoke-access", { username: "bob", sessions: 1, apiTokens: 2 }),
      "alice revoked all access of bob (1 sign-in ended, 2 API tokens revoked)",
    ],
    [entry("project.create", { name: "lab" }), "alice created the project lab"],
    [entry("project.delete", { name: "lab" }), "alice deleted the project lab"],
    [
      entry("project.exec-users", { execUsers: ["deploy", "root"] }),
      "alice let commands run as deploy, root",
    ],
    [
      entry("project.exec-users", { execUsers: [] }),
      "alice cleared the exec users (commands run as the agent's own user only)",
    ],
    [
      entry("api-token.create", { id: 3, name: "ci", expiresAt: "2026-06-01T08:30:00.000Z" }),
      "alice created the API token “ci” (expires 2026-06-01 08:30 UTC)",
    ],
    [
      entry("api-token.create", { id: 3, name: "ci", expiresAt: null }),
      "alice created the API token “ci” (no expiry)",
    ],
    [entry("api-token.revoke", { id: 3, name: "ci" }), "alice revoked the API token “ci”"],
    [entry("api-token.revoke", { id: 3 }), "alice revoked the API token #3"],
    [
      entry("enrollment-token.create", {
        tokenId: 4,
        uses: 1,
        expiresAt: "2026-05-01T13:00:00.000Z",
        autoAccept: true,
        labels: { site: "lab" },
      }),
      "alice created enrollment token #4 (1 use, expires 2026-05-01 13:00 UTC, devices accepted automatically, labels site=lab)",
    ],
    [entry("enrollment-token.delete", { tokenId: 4 }), "alice deleted enrollment token #4"],
  ];
  for (const [e, want] of cases) assert.equal(auditText(e), want);
});

test("an unknown action still reads as a sentence; a device id never shows", () => {
  assert.equal(auditText(entry("thing.frobnicate", { x: 1 })), "alice did thing.frobnicate");
  assert.equal(auditText(onDevice("device.frobnicate")), "alice did device.frobnicate on robot-7");
  // The device's name comes from the entry; without a name the sentence still names no id.
  const nameless = entry("device.reject", {}, { deviceId: DEV });
  assert.equal(auditText(nameless), "alice rejected a device");
  const parts = auditSentence(onDevice("device.delete", {}, { deviceDeleted: true })).parts;
  assert.deepEqual(parts, [{ text: "deleted " }, { device: "robot-7", id: DEV, deleted: true }]);
});

test("every action the server writes has its own sentence and a filter entry", () => {
  const root = new URL("../../server/src", import.meta.url).pathname;
  const files: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".ts")) files.push(p);
    }
  };
  walk(root);
  const written = new Set<string>();
  for (const f of files) {
    const src = readFileSync(f, "utf8");
    for (const m of src.matchAll(/\baction: "([a-z-]+(?:\.[a-z-]+)+)"/g)) written.add(m[1]);
    // DeviceOps writes through this.log(p, "device.x", …).
    for (const m of src.matchAll(/this\.log\(p, "([a-z-]+\.[a-z-]+)"/g)) written.add(m[1]);
  }
  assert.ok(written.size >= 15, `found only ${[...written].join(", ")}`);
  const listed = new Set(Object.values(AUDIT_ACTIONS).flat());
  for (const action of written) {
    assert.ok(listed.has(action), `${action} is missing from AUDIT_ACTIONS`);
    const text = auditText(onDevice(action, {}));
    assert.ok(!text.startsWith(`alice did ${action}`), `${action} has no sentence of its own: ${text}`);
  }
});

test("sentences for remote configuration: layers in words, keys named, never values", () => {
  const cases: [AuditEntry, string][] = [
    [
      entry("config.change", {
        layer: "group:site-tokyo",
        revision: 14,
        changed: ["nav.hz", "nav.max_speed"],
        message: "raise speed",
      }),
      "alice changed the configuration of group site-tokyo (revision 14): nav.hz, nav.max_speed (“raise speed”)",
    ],
    [
      entry("config.change", { layer: "defaults", revision: 2, changed: ["a"] }),
      "alice changed the configuration of the project defaults (revision 2): a",
    ],
    [
      entry("config.rollback", { layer: "device:robot-7", revision: 15, restored: 12 }),
      "alice rolled back the configuration of device robot-7 to revision 12 (as revision 15)",
    ],
    [
      entry("config.group.create", {
        group: "site-tokyo",
        selector: "site=tokyo",
        priority: 10,
        revision: 3,
      }),
      "alice created the configuration group site-tokyo (selector site=tokyo, priority 10) (revision 3)",
    ],
    [
      entry("config.group.delete", {
        group: "site-tokyo",
        selector: "site=tokyo",
        priority: 10,
        revision: 9,
      }),
      "alice deleted the configuration group site-tokyo (revision 9)",
    ],
    [entry("config.schema.set", {}), "alice set the project's configuration schema"],
    [entry("config.schema.clear", {}), "alice removed the project's configuration schema"],
    [
      entry("config.rollout.pause", { rollout: "rol_abc", layer: "group:amr2", revision: 20 }),
      "alice paused the configuration rollout rol_abc of group amr2 (revision 20)",
    ],
    [
      onDevice(
        "config.report-refused",
        { rev: 99, hash: "0123456789abcdef0123" },
        { actor: `device:${DEV}` },
      ),
      "robot-7 reported configuration revision 99 (hash 0123456789ab), which it was never sent; the report was refused",
    ],
  ];
  for (const [e, want] of cases) assert.equal(auditText(e), want);
});
