// @matrix: store
// Webhook deliveries against real HTTP receivers on 127.0.0.x (docs/protocol.md §16): an
// answer of 500 then 200 (retried with backoff, delivered, both attempts in the log); a 4xx is
// not retried; a receiver that hangs (timed out, given up after the attempts, while the
// evaluator keeps ticking and another webhook is delivered); a redirect to another host (not
// followed, recorded); a restart keeps states (no second notification). Short timeout and
// backoff via config; waits are on events (deliveriesIdle, a receiver's count), no sleeps.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Alert, Webhook, WebhookDelivery } from "@tether/protocol";
import { cleanupTempDirs, tempDir, waitFor } from "../../../tests/e2e/harness.js";
import { type Receiver, receiver, verify, type World, world } from "./alerts-support.js";

const CONFIG = { webhookTimeoutMs: 300, webhookBackoffMs: 5, webhookMaxAttempts: 3 };
let dir: string;
let w: World;
const receivers: Receiver[] = [];
const make = async (host?: string) => {
  const r = await receiver(host);
  receivers.push(r);
  return r;
};
const createHook = (name: string, url: string) =>
  w.admin.call<Webhook>("POST", "/api/v1/webhooks", { name, url });

before(async () => {
  dir = tempDir("tether-webhooks-");
  w = await world(CONFIG, dir);
  await w.upload("r1-0001", [{ name: "battery_percent", value: 80 }]);
});

after(async () => {
  await w?.srv.close();
  for (const r of receivers) await r.close();
  await cleanupTempDirs();
});

describe("webhook deliveries", () => {
  test("500 then 200: retried, delivered, both attempts in the log; the generated secret signs", async () => {
    const r = await make();
    r.answer = (_q, res, n) =>
      n === 1 ? res.writeHead(500).end("database down") : res.writeHead(200).end("ok");
    const created = await createHook("flaky", r.url);
    assert.ok(created.secret && created.secret.length >= 32, "a generated secret is returned once");
    const listed = await w.admin.call<Webhook[]>("GET", "/api/v1/webhooks");
    assert.equal(listed.find((h) => h.name === "flaky")!.secret, undefined, "and never again");
    const first = await w.admin.call<WebhookDelivery>("POST", "/api/v1/webhooks/flaky/test");
    assert.equal(first.status, "pending");
    assert.equal(first.attempts, 1);
    assert.equal(first.httpStatus, 500);
    assert.match(first.lastError!, /HTTP 500: database down/);
    await w.srv.capabilities.alerts.deliveriesIdle();
    const [d] = await w.admin.call<WebhookDelivery[]>("GET", "/api/v1/webhooks/flaky/deliveries");
    assert.equal(d!.status, "delivered");
    assert.equal(d!.attempts, 2);
    assert.equal(d!.httpStatus, 200);
    assert.deepEqual(
      d!.log!.map((a) => [a.httpStatus, a.error]),
      [
        [500, "HTTP 500: database down"],
        [200, null],
      ],
    );
    assert.equal(r.got.length, 2);
    assert.equal(r.got[0]!.headers["x-tether-delivery"], String(d!.id));
    assert.equal(r.got[1]!.headers["x-tether-delivery"], String(d!.id));
    for (const g of r.got)
      assert.ok(verify(created.secret!, g.headers["x-tether-signature"] as string, g.body));
    assert.equal(r.got[0]!.json.alerts[0].labels.alertname, "tether-webhook-test");
  });

  test("a 4xx other than 408 and 429 is not retried", async () => {
    const r = await make();
    r.answer = (_q, res) => res.writeHead(410).end("gone");
    await createHook("gone", r.url);
    const d = await w.admin.call<WebhookDelivery>("POST", "/api/v1/webhooks/gone/test");
    assert.equal(d.status, "failed");
    assert.equal(d.attempts, 1);
    assert.equal(d.httpStatus, 410);
    await w.srv.capabilities.alerts.deliveriesIdle();
    assert.equal(r.got.length, 1);
  });

  test("a redirect to another host is not followed, and says so", async () => {
    const other = await make("127.0.0.2");
    const r = await make();
    const otherHost = new URL(other.url).host;
    r.answer = (_q, res) => res.writeHead(302, { location: other.url }).end();
    await createHook("moved", r.url);
    const d = await w.admin.call<WebhookDelivery>("POST", "/api/v1/webhooks/moved/test");
    assert.equal(d.status, "failed");
    assert.equal(d.httpStatus, 302);
    assert.equal(d.lastError, `redirect to ${otherHost} not followed`);
    await w.srv.capabilities.alerts.deliveriesIdle();
    assert.equal(other.got.length, 0, "the other host was never called");
  });

  test("a webhook that hangs times out and is given up; the evaluator and other webhooks go on", async () => {
    const hang = await make();
    hang.answer = () => {}; // never answers
    const good = await make();
    await createHook("hangs", hang.url);
    await createHook("good", good.url);
    await w.operator.call("POST", "/api/v1/alerts/rules", {
      name: "low",
      metric: "battery_percent",
      op: "<",
      value: 15,
      webhooks: ["hangs", "good"],
    });
    await w.upload("r1-0001", [{ name: "battery_percent", value: 3 }]);
    await w.srv.capabilities.alerts.evaluate();
    await waitFor(() => good.got.length === 1, "the good webhook's delivery");
    await waitFor(() => hang.got.length === 1, "the hanging webhook's first request");
    // The hanging request is in flight; evaluation still runs and moves states.
    await w.upload("r1-0001", [{ name: "battery_percent", value: 50 }]);
    w.clock.now += 1000;
    await w.srv.capabilities.alerts.evaluate();
    const a = await w.admin.call<Alert[]>("GET", "/api/v1/alerts?state=resolved");
    assert.equal(a.find((x) => x.rule === "low")?.state, "resolved");
    await waitFor(() => good.got.length === 2, "the good webhook's resolved delivery");
    assert.equal(good.got[1]!.json.status, "resolved");
    await w.srv.capabilities.alerts.deliveriesIdle();
    const ds = await w.admin.call<WebhookDelivery[]>("GET", "/api/v1/webhooks/hangs/deliveries");
    const fired = ds.find((d) => d.event === "firing")!;
    assert.equal(fired.status, "failed");
    assert.equal(fired.attempts, 3);
    assert.match(fired.lastError!, /timed out after 300 ms \(gave up after 3 attempts\)/);
    assert.deepEqual(
      fired.log!.map((l) => l.error),
      Array(3).fill("timed out after 300 ms"),
    );
    await w.operator.call("DELETE", "/api/v1/alerts/rules/low");
  });

  test("a restart keeps a firing alert firing and does not notify it again", async () => {
    const r = await make();
    await createHook("after-restart", r.url);
    await w.operator.call("POST", "/api/v1/alerts/rules", {
      name: "still-low",
      metric: "battery_percent",
      op: "<",
      value: 15,
      webhooks: ["after-restart"],
    });
    await w.upload("r1-0001", [{ name: "battery_percent", value: 4 }]);
    await w.srv.capabilities.alerts.evaluate();
    await w.srv.capabilities.alerts.deliveriesIdle();
    assert.equal(r.got.length, 1);
    await w.srv.close();
    w = await world(CONFIG, dir);
    await w.srv.capabilities.alerts.evaluate();
    await w.srv.capabilities.alerts.deliveriesIdle();
    const a = await w.admin.call<Alert[]>("GET", "/api/v1/alerts");
    assert.equal(a.find((x) => x.rule === "still-low")?.state, "firing");
    assert.equal(r.got.length, 1, "not notified again");
    // Fresh data after the restart decides.
    await w.upload("r1-0001", [{ name: "battery_percent", value: 70 }]);
    w.clock.now += 1000;
    await w.srv.capabilities.alerts.evaluate();
    await w.srv.capabilities.alerts.deliveriesIdle();
    assert.equal(r.got.length, 2);
    assert.equal(r.got[1]!.json.status, "resolved");
  });
});
