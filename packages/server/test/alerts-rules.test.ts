// @matrix: store
// Alerts in a real server (docs/protocol.md §16): metric samples through the real telemetry
// ingest, a metric rule pending → firing after its for-duration → a real webhook receiver
// called with a valid HMAC signature → the value recovers → resolved and called again;
// silences; offline rules from presence; log pattern rules counted in a window; the bad
// input (unknown metric, bad selector, unknown webhook, unsafe or invalid patterns); roles.
// Time is the alerts clock the test moves, and evaluate(now) is one tick: no sleeps.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Alert, AlertEvent, AlertRule, Webhook } from "@tether/protocol";
import { cleanupTempDirs } from "../../../tests/e2e/harness.js";
import { type Receiver, receiver, verify, type World, world } from "./alerts-support.js";

const SECRET = "a-shared-secret-of-enough-length";
const MIN = 60_000;
let w: World;
let hook: Receiver;
let logListener:
  | ((deviceId: string, lines: { deviceId: string; message: string; kind: "line" | "gap" }[]) => void)
  | undefined;

const alerts = (q = "") => w.admin.call<Alert[]>("GET", `/api/v1/alerts${q}`);
const tick = async (advanceMs = 0) => {
  w.clock.now += advanceMs;
  await w.srv.capabilities.alerts.evaluate();
  await w.srv.capabilities.alerts.deliveriesIdle();
};

before(async () => {
  hook = await receiver();
  w = await world();
  // The logs capability's listener is attached like the server attaches the real one.
  w.srv.capabilities.alerts.attach({
    logs: {
      onStored(l) {
        logListener = l;
        return () => {};
      },
    },
  });
  const created = await w.admin.call<Webhook>("POST", "/api/v1/webhooks", {
    name: "ops",
    url: hook.url,
    secret: SECRET,
  });
  assert.equal(created.secret, undefined, "a given secret is never echoed");
  await w.upload("r1-0001", [
    { name: "battery_percent", value: 80 },
    { name: "temperature_celsius", labels: { sensor: "cpu" }, value: 40 },
  ]);
  await w.upload("r3-0003", [{ name: "battery_percent", value: 80 }]);
});

after(async () => {
  await w?.srv.close();
  await hook?.close();
  await cleanupTempDirs();
});

describe("alert rules", () => {
  test("metric rule: pending, firing after forMs with a signed webhook call, resolved and called again", async () => {
    const rule = await w.operator.call<AlertRule>("POST", "/api/v1/alerts/rules", {
      name: "battery-low",
      metric: "battery_percent",
      op: "<",
      value: 15,
      forMs: 2 * MIN,
      selector: "site=tokyo",
      webhooks: ["ops"],
      severity: "critical",
    });
    assert.equal(rule.kind, "metric");
    assert.equal(rule.condition, "battery_percent < 15 for 2m at site=tokyo");

    await w.upload("r1-0001", [{ name: "battery_percent", value: 12 }]);
    await w.upload("r3-0003", [{ name: "battery_percent", value: 5 }]); // osaka: not selected
    await tick();
    let now = await alerts();
    assert.deepEqual(
      now.map((a) => [a.rule, a.device, a.state, a.value]),
      [["battery-low", "robot-1", "pending", 12]],
    );
    assert.equal(hook.got.length, 0, "pending does not notify");

    await tick(2 * MIN - 1);
    assert.equal((await alerts())[0]!.state, "pending", "not before forMs");
    await tick(1);
    now = await alerts("?state=firing");
    assert.equal(now.length, 1);
    assert.equal(now[0]!.state, "firing");
    assert.match(now[0]!.summary, /battery_percent is 12 \(< 15\) for 2m/);
    assert.equal(hook.got.length, 1);
    const fired = hook.got[0]!;
    assert.ok(
      verify(SECRET, fired.headers["x-tether-signature"] as string, fired.body),
      "signature verifies",
    );
    assert.ok(!verify("another-secret-entirely", fired.headers["x-tether-signature"] as string, fired.body));
    assert.ok(fired.headers["x-tether-delivery"]);
    assert.equal(fired.json.version, "4");
    assert.equal(fired.json.status, "firing");
    assert.equal(fired.json.receiver, "ops");
    assert.equal(fired.json.alerts.length, 1);
    const a = fired.json.alerts[0];
    assert.equal(a.labels.alertname, "battery-low");
    assert.equal(a.labels.device, "robot-1");
    assert.equal(a.labels.severity, "critical");
    assert.equal(a.labels.site, "tokyo");
    assert.equal(a.endsAt, "0001-01-01T00:00:00Z");
    assert.match(a.fingerprint, /^[0-9a-f]{16}$/);

    // More low samples: still firing, nobody is told twice.
    await w.upload("r1-0001", [{ name: "battery_percent", value: 11 }]);
    await tick(10_000);
    assert.equal(hook.got.length, 1);

    await w.upload("r1-0001", [{ name: "battery_percent", value: 60 }]);
    await tick(1000);
    now = await alerts();
    assert.equal(now[0]!.state, "resolved");
    assert.equal(now[0]!.value, 60);
    assert.equal(hook.got.length, 2);
    const resolved = hook.got[1]!;
    assert.ok(verify(SECRET, resolved.headers["x-tether-signature"] as string, resolved.body));
    assert.equal(resolved.json.status, "resolved");
    assert.equal(resolved.json.alerts[0].fingerprint, a.fingerprint);
    assert.notEqual(resolved.json.alerts[0].endsAt, "0001-01-01T00:00:00Z");

    const hist = await w.viewer.call<AlertEvent[]>("GET", "/api/v1/alerts/history?rule=battery-low");
    assert.deepEqual(
      hist.map((h) => [h.device, h.state]),
      [
        ["robot-1", "resolved"],
        ["robot-1", "firing"],
      ],
    );
    const deliveries = await w.admin.call<any[]>("GET", "/api/v1/webhooks/ops/deliveries");
    assert.deepEqual(
      deliveries.map((d) => [d.event, d.status, d.rule, d.device]),
      [
        ["resolved", "delivered", "battery-low", "robot-1"],
        ["firing", "delivered", "battery-low", "robot-1"],
      ],
    );
    const audit = await w.admin.call<any>("GET", "/api/v1/audit?action=alert.*");
    const entries = Array.isArray(audit) ? audit : audit.entries;
    assert.ok(entries.some((e: any) => e.action === "alert.rule.create" && e.actor === "oper"));
  });

  test("a silenced rule changes state but does not notify", async () => {
    await w.operator.call("POST", "/api/v1/alerts/rules", {
      name: "hot",
      metric: "temperature_celsius",
      labels: "sensor=cpu",
      op: ">",
      value: 70,
      webhooks: ["ops"],
    });
    const s = await w.operator.call<any>("POST", "/api/v1/alerts/rules/hot/silence", {
      durationMs: 3_600_000,
      comment: "maintenance",
    });
    assert.equal(s.rule, "hot");
    const before = hook.got.length;
    await w.upload("r1-0001", [{ name: "temperature_celsius", labels: { sensor: "cpu" }, value: 90 }]);
    await tick(1000);
    const firing = (await alerts("?state=firing")).filter((a) => a.rule === "hot");
    assert.equal(firing.length, 1);
    assert.equal(firing[0]!.silenced, true);
    assert.equal(hook.got.length, before, "no webhook call while silenced");
    const silences = await w.viewer.call<any[]>("GET", "/api/v1/alerts/silences");
    assert.deepEqual(
      silences.map((x) => [x.rule, x.comment]),
      [["hot", "maintenance"]],
    );
    assert.equal((await w.viewer.call<AlertRule>("GET", "/api/v1/alerts/rules/hot")).firing, 1);
    await w.operator.call("DELETE", "/api/v1/alerts/rules/hot/silence");
    assert.equal((await w.viewer.call<any[]>("GET", "/api/v1/alerts/silences")).length, 0);
    const again = await w.operator.request("DELETE", "/api/v1/alerts/rules/hot/silence");
    assert.equal(again.status, 404);
    assert.equal(again.body.error.code, "TETHER_ERR_SILENCE_NOT_FOUND");
    // Its firing was never sent, so neither is its end.
    await w.upload("r1-0001", [{ name: "temperature_celsius", labels: { sensor: "cpu" }, value: 30 }]);
    await tick(1000);
    assert.equal(hook.got.length, before);
    await w.operator.call("DELETE", "/api/v1/alerts/rules/hot");
  });

  test("offline rule: pending when the device goes offline, firing after offlineMs, resolved when back", async () => {
    await w.srv.store.db
      .updateTable("devices")
      .set({ online: 0, last_seen_at: new Date(w.clock.now - 10 * MIN).toISOString() })
      .where("id", "=", "r2-0002")
      .execute();
    await w.operator.call("POST", "/api/v1/alerts/rules", {
      name: "gone",
      offlineMs: 5 * MIN,
      selector: "site=tokyo",
      webhooks: ["ops"],
    });
    await tick();
    let mine = (await alerts()).filter((a) => a.rule === "gone");
    // Offline time counts from the server's start at the earliest (nobody could connect before).
    assert.deepEqual(
      mine.map((a) => [a.device, a.state]),
      [["robot-2", "pending"]],
    );
    const before = hook.got.length;
    await tick(5 * MIN);
    mine = (await alerts()).filter((a) => a.rule === "gone");
    assert.equal(mine[0]!.state, "firing");
    assert.match(mine[0]!.summary, /^offline for \d+m/);
    assert.equal(hook.got.length, before + 1);
    assert.equal(hook.got.at(-1)!.json.alerts[0].labels.kind, "offline");

    await w.srv.control.presence.online("r2-0002", "conn-1", null);
    await tick(1000);
    mine = (await alerts()).filter((a) => a.rule === "gone");
    assert.equal(mine[0]!.state, "resolved");
    assert.match(mine[0]!.summary, /back online/);
    assert.equal(hook.got.length, before + 2);
    assert.equal(hook.got.at(-1)!.json.status, "resolved");
    await w.operator.call("DELETE", "/api/v1/alerts/rules/gone");
  });

  test("log rule: a pattern seen count times within the window fires; resolves as the window passes", async () => {
    await w.operator.call("POST", "/api/v1/alerts/rules", {
      name: "disk-errors",
      logPattern: "ERROR.*disk",
      count: 3,
      withinMs: MIN,
      webhooks: ["ops"],
    });
    assert.ok(logListener, "alerts listen to stored log lines");
    const line = (message: string, kind: "line" | "gap" = "line") => ({ deviceId: "r1-0001", message, kind });
    logListener!("r1-0001", [line("ERROR: disk full"), line("INFO all good"), line("ERROR disk again")]);
    // A gap line that happens to match is not a line the device logged.
    logListener!("r1-0001", [line("ERROR: 12 lines dropped from disk.log", "gap")]);
    await tick(1000);
    assert.equal((await alerts()).filter((a) => a.rule === "disk-errors").length, 0, "2 of 3");
    // Only the first 4 KiB of a line is matched: a match beyond it does not count.
    logListener!("r1-0001", [line(`${"x".repeat(5000)} ERROR disk`)]);
    await tick(1000);
    assert.equal((await alerts()).filter((a) => a.rule === "disk-errors").length, 0);
    logListener!("r1-0001", [line("ERROR on disk sda")]);
    await tick(1000);
    let mine = (await alerts()).filter((a) => a.rule === "disk-errors");
    assert.deepEqual(
      mine.map((a) => [a.device, a.state, a.value]),
      [["robot-1", "firing", 3]],
    );
    await tick(MIN);
    mine = (await alerts()).filter((a) => a.rule === "disk-errors");
    assert.equal(mine[0]!.state, "resolved");
    await w.operator.call("DELETE", "/api/v1/alerts/rules/disk-errors");
  });

  test("a backtracking-prone pattern is matched in linear time, on huge lines too", async () => {
    await w.operator.call("POST", "/api/v1/alerts/rules", { name: "redos", logPattern: "(a+)+$", count: 1 });
    // 4,000 a's then "!": a backtracking engine tries 2^4000 ways; RE2 one pass.
    logListener!("r1-0001", [{ deviceId: "r1-0001", message: `${"a".repeat(4000)}!`, kind: "line" }]);
    logListener!("r1-0001", [{ deviceId: "r1-0001", message: "aaaa", kind: "line" }]);
    await tick(1000);
    const mine = (await alerts()).filter((a) => a.rule === "redos");
    assert.deepEqual(
      mine.map((a) => [a.state, a.value]),
      [["firing", 1]],
    );
    await w.operator.call("DELETE", "/api/v1/alerts/rules/redos");
  });
});

describe("bad input", () => {
  const refused = async (body: Record<string, unknown>, code: string, message: RegExp) => {
    const r = await w.operator.request("POST", "/api/v1/alerts/rules", { name: "bad", ...body });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error.code, code);
    assert.match(r.body.error.message, message);
  };

  test("unknown metric, labels no series has, bad selector, unknown webhook, not exactly one kind", async () => {
    await refused(
      { metric: "batery_percent", op: "<", value: 1 },
      "TETHER_ERR_RULE_INVALID",
      /batery_percent/,
    );
    await refused(
      { metric: "temperature_celsius", labels: "sensor=gpu", op: ">", value: 1 },
      "TETHER_ERR_RULE_INVALID",
      /sensor=gpu/,
    );
    await refused(
      { metric: "battery_percent", op: "<", value: 1, selector: "site" },
      "TETHER_ERR_BAD_SELECTOR",
      /has no "="/,
    );
    await refused(
      { metric: "battery_percent", op: "<", value: 1, webhooks: ["nope"] },
      "TETHER_ERR_RULE_INVALID",
      /no webhook named nope/,
    );
    await refused(
      { metric: "battery_percent", op: "<", value: 1, offlineMs: 60_000 },
      "TETHER_ERR_RULE_INVALID",
      /exactly one kind/,
    );
    await refused({}, "TETHER_ERR_RULE_INVALID", /exactly one kind/);
    await refused({ metric: "battery_percent" }, "TETHER_ERR_RULE_INVALID", /needs op and value/);
  });

  test("patterns that need backtracking, or do not parse, or compile too large", async () => {
    await refused({ logPattern: "(a)\\1" }, "TETHER_ERR_PATTERN_UNSAFE", /backreferences/);
    await refused({ logPattern: "foo(?=bar)" }, "TETHER_ERR_PATTERN_UNSAFE", /lookahead/);
    await refused({ logPattern: "(?<=x)a" }, "TETHER_ERR_PATTERN_UNSAFE", /lookbehind/);
    await refused({ logPattern: "[a-z]{1000}" }, "TETHER_ERR_PATTERN_UNSAFE", /too large/);
    await refused({ logPattern: "ERROR [" }, "TETHER_ERR_PATTERN_INVALID", /missing closing \]/);
  });

  test("roles: viewers read, operators manage rules, admins manage webhooks", async () => {
    const body = { name: "v", metric: "battery_percent", op: "<", value: 1 };
    const r = await w.viewer.request("POST", "/api/v1/alerts/rules", body);
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, "TETHER_ERR_FORBIDDEN");
    assert.equal(
      (await w.viewer.request("POST", "/api/v1/alerts/rules/battery-low/silence", { durationMs: 60_000 }))
        .status,
      403,
    );
    assert.equal((await w.viewer.request("DELETE", "/api/v1/alerts/rules/battery-low")).status, 403);
    assert.equal(
      (await w.operator.request("POST", "/api/v1/webhooks", { name: "x", url: hook.url })).status,
      403,
    );
    assert.equal((await w.operator.request("DELETE", "/api/v1/webhooks/ops")).status, 403);
    assert.equal((await w.viewer.request("GET", "/api/v1/alerts/rules")).status, 200);
    // A webhook URL may hold a token: in full for admins only.
    const seen = await w.viewer.call<Webhook[]>("GET", "/api/v1/webhooks");
    assert.equal(seen[0]!.url, `${new URL(hook.url).origin}/…`);
    const dup = await w.operator.request("POST", "/api/v1/alerts/rules", { ...body, name: "battery-low" });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.error.code, "TETHER_ERR_RULE_EXISTS");
    const missing = await w.viewer.request("GET", "/api/v1/alerts/rules/nope");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, "TETHER_ERR_RULE_NOT_FOUND");
  });
});
