// @matrix: store
// Issue 12, "done when": an alert on a custom metric fires, calls a real webhook receiver and
// resolves. A real agent takes the application's metric over StatsD and uploads it over the
// telemetry channel; the rule and the webhook are made with the CLI exactly as an operator
// types them; the receiver checks the HMAC signature of each request.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createSocket } from "node:dgram";
import { writeFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, test } from "node:test";
import { Cli, expectExit, stopClis } from "../support/cli-driver.js";
import { cleanupTempDirs, enrollOnline, freePort, startServer, tempDir, waitFor } from "./harness.js";

after(async () => {
  stopClis();
  await cleanupTempDirs();
});

interface Hook {
  body: any;
  raw: string;
  headers: IncomingMessage["headers"];
}

/** A webhook receiver on loopback that keeps every request. */
async function receiver(): Promise<{ url: string; got: Hook[]; close(): Promise<void> }> {
  const got: Hook[] = [];
  const srv = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(parts).toString("utf8");
      got.push({ raw, body: JSON.parse(raw), headers: req.headers });
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/tether-hook`,
    got,
    close: () => new Promise((r) => srv.close(() => r())),
  };
}

/** The signature recipe of docs/protocol.md §16: HMAC-SHA256 over "<t>.<body>". */
function verify(h: Hook, secret: string): void {
  const sig = String(h.headers["x-tether-signature"] ?? "");
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(sig);
  assert.ok(m, `signature header: ${sig}`);
  const want = createHmac("sha256", secret).update(`${m[1]}.${h.raw}`).digest("hex");
  assert.equal(m[2], want, "the HMAC matches the body");
  assert.ok(h.headers["x-tether-delivery"], "a delivery id");
}

test("an alert on a custom metric fires, calls the webhook (signed), and resolves", async () => {
  const server = await startServer();
  const hook = await receiver();
  const statsdPort = await freePort();
  const udp = createSocket("udp4");
  const gauge = (v: number) =>
    new Promise<void>((r) => udp.send(`app_queue_depth:${v}|g`, statsdPort, "127.0.0.1", () => r()));
  const { agent } = await enrollOnline(server, {
    name: "robot-1",
    labels: { site: "tokyo" },
    env: { AGENT_METRICS: JSON.stringify({ interval: 0.2, statsdPort }) },
  });
  try {
    const cli = new Cli(server);
    // The application reports its queue depth; the server learns the metric.
    await waitFor(async () => {
      await gauge(3);
      const r = await server.api.request<{ series: { name: string }[] }>(
        "GET",
        "/api/v1/devices/robot-1/metrics",
      );
      return r.status === 200 && r.body.series.some((s) => s.name === "app_queue_depth");
    }, "app_queue_depth stored");

    const secretFile = join(tempDir(), "hook.secret");
    const secret = "a-shared-secret-of-some-length";
    writeFileSync(secretFile, `${secret}\n`);
    expectExit(
      await cli.run(["webhooks", "create", "ops", "--url", hook.url, "--secret-file", secretFile]),
      0,
      "webhooks create",
    );

    // Bad rules are refused with a sentence, before anything is stored.
    const unknown = await cli.run([
      "alerts",
      "rules",
      "create",
      "nope",
      "--metric",
      "no_such_metric",
      "--op",
      ">",
      "--value",
      "1",
    ]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no_such_metric/);
    const badSel = await cli.run([
      "alerts",
      "rules",
      "create",
      "nope",
      "--metric",
      "app_queue_depth",
      "--op",
      ">",
      "--value",
      "1",
      "--selector",
      "site==",
    ]);
    assert.notEqual(badSel.code, 0);
    assert.match(badSel.stderr, /selector/);

    const created = await cli.run([
      "alerts",
      "rules",
      "create",
      "queue-high",
      "--metric",
      "app_queue_depth",
      "--op",
      ">",
      "--value",
      "10",
      "--for",
      "2s",
      "--selector",
      "site=tokyo",
      "--webhook",
      "ops",
    ]);
    expectExit(created, 0, "alerts rules create");
    const rules = await cli.json<{ name: string; condition: string }[]>(["alerts", "rules", "list"]);
    assert.deepEqual(
      rules.map((r) => r.name),
      ["queue-high"],
    );

    // The queue grows past the threshold: pending, then firing after 2 s, then the webhook.
    await gauge(42);
    const firing = await waitFor(
      () => hook.got.find((h) => h.body.status === "firing"),
      "the firing notification",
    );
    verify(firing, secret);
    const a = firing.body.alerts[0];
    assert.equal(firing.body.receiver, "ops");
    assert.equal(a.status, "firing");
    assert.equal(a.labels.alertname, "queue-high");
    assert.equal(a.labels.device, "robot-1");
    const listed = await cli.json<{ rule: string; device: string; state: string; value: number }[]>([
      "alerts",
      "list",
      "--firing",
    ]);
    assert.equal(listed.length, 1);
    assert.deepEqual(
      [listed[0]!.rule, listed[0]!.device, listed[0]!.state],
      ["queue-high", "robot-1", "firing"],
    );
    assert.equal(listed[0]!.value, 42);
    // It held for the rule's 2 s before it fired (server receive times, not the device clock).
    assert.ok(Date.parse(a.startsAt) > 0, a.startsAt);

    // The queue drains: resolved, and a second (signed) notification.
    await gauge(1);
    const resolved = await waitFor(
      () => hook.got.find((h) => h.body.status === "resolved"),
      "the resolved notification",
    );
    verify(resolved, secret);
    assert.equal(resolved.body.alerts[0].labels.device, "robot-1");
    assert.equal(hook.got.filter((h) => h.body.status === "firing").length, 1, "fired once");
    const after = await cli.json<{ state: string }[]>(["alerts", "list"]);
    assert.deepEqual(
      after.map((x) => x.state),
      ["resolved"],
    );
    const deliveries = await cli.json<{ status: string; event: string }[]>(["webhooks", "deliveries", "ops"]);
    assert.deepEqual(deliveries.map((d) => `${d.event}:${d.status}`).sort(), [
      "firing:delivered",
      "resolved:delivered",
    ]);
  } finally {
    udp.close();
    await agent.kill();
    await server.stop();
    await hook.close();
  }
});
