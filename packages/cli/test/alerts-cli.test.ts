// @matrix: once
/**
 * `tether alerts` and `tether webhooks` against a fake API over real HTTP (the server's rules,
 * evaluation and deliveries are tested with the server): the rule bodies the three kinds of
 * `rules create` post, every wrong combination refused before any request (exit 2), the alert
 * table firing first, silences, history filters, webhook creation (a generated secret printed
 * once, or one read from a file), `webhooks test` outcomes and exit codes, delivery logs, and an
 * answer that does not match the protocol refused.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, test } from "node:test";
import type { Alert, AlertRule, WebhookDelivery } from "@tether/sdk";
import { run } from "../src/cli.js";
import { ruleFromOptions, sortAlerts } from "../src/commands/alerts.js";
import { CliError } from "../src/io.js";
import { type FakeApi, json, startFakeApi, testIo } from "./logs-fake-api.js";

let api: FakeApi;
let dir: string;

before(async () => {
  api = await startFakeApi();
  dir = mkdtempSync(join(tmpdir(), "tether-alerts-cli-"));
});
after(async () => {
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  api.requests.length = 0;
});

async function tether(args: string[]) {
  const io = testIo(api.env);
  const code = await run(args, io);
  return { code, stdout: io.out(), stderr: io.err() };
}

const ISO = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

function ruleOf(body: any): AlertRule {
  return {
    id: 1,
    name: body.name,
    kind: body.metric ? "metric" : body.offlineMs ? "offline" : "log",
    metric: body.metric ?? null,
    labels: body.labels ?? null,
    op: body.op ?? null,
    value: body.value ?? null,
    forMs: body.forMs ?? 0,
    offlineMs: body.offlineMs ?? null,
    logPattern: body.logPattern ?? null,
    count: body.count ?? null,
    withinMs: body.withinMs ?? null,
    selector: body.selector ?? null,
    webhooks: body.webhooks ?? [],
    severity: body.severity ?? "warning",
    description: body.description ?? null,
    condition: "battery_capacity_percent < 15 for 2m at site=tokyo",
    createdAt: ISO(0),
    createdBy: "admin",
    silencedUntil: null,
    firing: 0,
    pending: 0,
  };
}

function alert(rule: string, device: string, state: Alert["state"], agoMs: number): Alert {
  return {
    rule,
    ruleId: 1,
    device,
    deviceId: `dev_${device}`,
    state,
    severity: "warning",
    value: 12,
    summary: `battery_capacity_percent is 12 (< 15) on ${device}`,
    since: ISO(agoMs),
    firedAt: state === "pending" ? null : ISO(agoMs),
    resolvedAt: state === "resolved" ? ISO(0) : null,
    silenced: false,
  };
}

function delivery(o: Partial<WebhookDelivery>): WebhookDelivery {
  return {
    id: 1,
    webhook: "ops",
    event: "test",
    rule: null,
    device: null,
    status: "delivered",
    attempts: 1,
    httpStatus: 200,
    lastError: null,
    createdAt: ISO(1000),
    updatedAt: ISO(0),
    ...o,
  };
}

test("rules create: the three kinds post the body the protocol names", async () => {
  api.on("POST", "/api/v1/alerts/rules", (r, res) => json(res, 201, ruleOf(r.body)));
  const m = await tether([
    "alerts",
    "rules",
    "create",
    "low-battery",
    "--metric",
    "battery_capacity_percent",
    "--op",
    "<",
    "--value",
    "15",
    "--for",
    "2m",
    "--selector",
    "site=tokyo",
    "--webhook",
    "ops",
    "--webhook",
    "pager",
    "--severity",
    "critical",
  ]);
  assert.equal(m.code, 0, m.stderr);
  assert.equal(m.stdout, "created rule low-battery: battery_capacity_percent < 15 for 2m at site=tokyo\n");
  assert.deepEqual(api.requests[0].body, {
    name: "low-battery",
    metric: "battery_capacity_percent",
    op: "<",
    value: 15,
    forMs: 120_000,
    selector: "site=tokyo",
    webhooks: ["ops", "pager"],
    severity: "critical",
  });

  const o = await tether(["alerts", "rules", "create", "gone", "--offline", "5m"]);
  assert.equal(o.code, 0, o.stderr);
  assert.deepEqual(api.requests[1].body, { name: "gone", offlineMs: 300_000 });

  const l = await tether([
    "alerts",
    "rules",
    "create",
    "panics",
    "--log-pattern",
    "panic|segfault",
    "--count",
    "3",
    "--within",
    "10m",
    "--json",
  ]);
  assert.equal(l.code, 0, l.stderr);
  assert.deepEqual(api.requests[2].body, {
    name: "panics",
    logPattern: "panic|segfault",
    count: 3,
    withinMs: 600_000,
  });
  assert.equal(JSON.parse(l.stdout).logPattern, "panic|segfault");
});

test("rules create: a wrong combination is a usage error before any request", async () => {
  const cases: [string[], RegExp][] = [
    [[], /needs one condition: --metric M --op OP --value V, --offline DURATION, or --log-pattern RE/],
    [["--metric", "m", "--offline", "5m"], /--metric and --offline cannot be combined/],
    [["--metric", "m", "--op", "<"], /--metric needs --op .* and --value/],
    [["--metric", "m", "--op", "=<", "--value", "1"], /--op must be one of < <= > >= == !=/],
    [["--metric", "m", "--op", "<", "--value", "low"], /--value must be a number/],
    [["--metric", "bad-name", "--op", "<", "--value", "1"], /bad metric name/],
    [["--metric", "m", "--op", "<", "--value", "1", "--for", "2 minutes"], /--for must be a duration/],
    [
      ["--metric", "m", "--op", "<", "--value", "1", "--count", "3"],
      /--count, --within cannot be used|--count cannot be used/,
    ],
    [["--offline", "5m", "--op", "<"], /--op cannot be used with --offline/],
    [["--offline", "5m", "--for", "1m"], /--for cannot be used with --offline/],
    [["--offline", "0.5s"], /--offline must be at least 1s/],
    [["--offline", "40d"], /--offline must be at most 30d/],
    [["--log-pattern", "x", "--for", "1m"], /--for cannot be used with --log-pattern/],
    [["--log-pattern", "x", "--count", "0"], /--count must be an integer >= 1/],
    [["--offline", "5m", "--selector", "site="], /bad --selector/],
    [["--offline", "5m", "--webhook", "-bad"], /bad --webhook name/],
    [["--offline", "5m", "--severity", "urgent"], /--severity must be one of info, warning, critical/],
  ];
  for (const [opts, why] of cases) {
    const r = await tether(["alerts", "rules", "create", "r1", ...opts]);
    assert.equal(r.code, 2, `${opts.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, why, opts.join(" "));
  }
  const bad = await tether(["alerts", "rules", "create", ".hidden", "--offline", "5m"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /bad rule name/);
  assert.equal(api.requests.length, 0);
  // The pure function: word operators, log defaults.
  assert.deepEqual(ruleFromOptions("a", { metric: "m", op: "ge", value: "-1.5" }), {
    name: "a",
    metric: "m",
    op: ">=",
    value: -1.5,
  });
  assert.deepEqual(ruleFromOptions("a", { logPattern: "oops" }), {
    name: "a",
    logPattern: "oops",
    count: 1,
    withinMs: 300_000,
  });
  assert.throws(() => ruleFromOptions("a", {}), CliError);
});

test("rules list and delete; a server refusal (unknown metric) is exit 1 with its message", async () => {
  api.on("GET", "/api/v1/alerts/rules", (_r, res) =>
    json(res, 200, [
      { ...ruleOf({ name: "low-battery", metric: "m", webhooks: ["ops"] }), firing: 2, pending: 1 },
    ]),
  );
  api.on("DELETE", "/api/v1/alerts/rules/low-battery", (_r, res) => {
    res.writeHead(204);
    res.end();
  });
  api.on("POST", "/api/v1/alerts/rules", (_r, res) =>
    json(res, 400, { error: { code: "TETHER_ERR_BAD_REQUEST", message: "no device reports metric nope" } }),
  );
  const l = await tether(["alerts", "rules", "list"]);
  assert.equal(l.code, 0, l.stderr);
  assert.match(l.stdout, /^NAME +CONDITION +SEVERITY +WEBHOOKS +STATE\n/);
  assert.match(
    l.stdout,
    /low-battery +battery_capacity_percent < 15 for 2m at site=tokyo +warning +ops +2 firing, 1 pending\n/,
  );
  const j = await tether(["alerts", "rules", "list", "--json"]);
  assert.equal(JSON.parse(j.stdout)[0].name, "low-battery");
  const d = await tether(["alerts", "rules", "delete", "low-battery"]);
  assert.equal(d.code, 0, d.stderr);
  assert.equal(d.stdout, "deleted rule low-battery\n");
  const nf = await tether(["alerts", "rules", "delete", "nope"]);
  assert.equal(nf.code, 4);
  const refused = await tether([
    "alerts",
    "rules",
    "create",
    "x",
    "--metric",
    "nope",
    "--op",
    ">",
    "--value",
    "1",
  ]);
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr, "tether: no device reports metric nope\n");
});

test("alerts list: firing first, with state, summary and since; --firing asks the server for firing only", async () => {
  const list = [
    alert("low-battery", "robot-1", "resolved", 60_000),
    alert("low-battery", "robot-2", "pending", 30_000),
    alert("low-battery", "robot-3", "firing", 120_000),
    { ...alert("gone", "robot-4", "firing", 10_000), silenced: true },
  ];
  api.on("GET", "/api/v1/alerts", (r, res) => {
    const s = r.query.get("state");
    json(res, 200, s ? list.filter((a) => a.state === s) : list);
  });
  const r = await tether(["alerts", "list"]);
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trimEnd().split("\n");
  assert.match(rows[0], /^RULE +DEVICE +STATE +SEVERITY +VALUE \/ SUMMARY +SINCE$/);
  assert.deepEqual(
    rows.slice(1).map((x) => x.split(/\s{2,}/).slice(1, 3)),
    [
      ["robot-4", "firing (silenced)"],
      ["robot-3", "firing"],
      ["robot-2", "pending"],
      ["robot-1", "resolved"],
    ],
  );
  assert.match(rows[2], /battery_capacity_percent is 12 \(< 15\) on robot-3 +\d\d:\d\d \(2m 0s\)$/);
  const f = await tether(["alerts", "list", "--firing", "--json", "--device", "robot-3"]);
  assert.equal(f.code, 0, f.stderr);
  assert.equal(api.requests.at(-1)?.query.get("state"), "firing");
  assert.equal(api.requests.at(-1)?.query.get("device"), "robot-3");
  assert.deepEqual(
    JSON.parse(f.stdout).map((a: Alert) => a.device),
    ["robot-4", "robot-3"],
  );
  assert.deepEqual(
    sortAlerts(list).map((a) => a.state),
    ["firing", "firing", "pending", "resolved"],
  );
  const bad = await tether(["alerts", "list", "--state", "burning"]);
  assert.equal(bad.code, 2);
});

test("silence, unsilence, silences and history", async () => {
  const until = new Date(Date.now() + 3600_000).toISOString();
  api.on("POST", "/api/v1/alerts/rules/low-battery/silence", (r, res) =>
    json(res, 201, {
      id: 1,
      rule: "low-battery",
      until,
      createdBy: "admin",
      createdAt: ISO(0),
      comment: r.body.comment ?? null,
    }),
  );
  api.on("DELETE", "/api/v1/alerts/rules/low-battery/silence", (_r, res) => {
    res.writeHead(204);
    res.end();
  });
  api.on("GET", "/api/v1/alerts/history", (_r, res) =>
    json(res, 200, [
      {
        id: 2,
        rule: "low-battery",
        device: "robot-3",
        deviceId: "dev_3",
        state: "firing",
        value: 12,
        summary: "battery 12 < 15",
        at: ISO(0),
      },
    ]),
  );
  const s = await tether(["alerts", "silence", "low-battery", "--duration", "1h", "--comment", "charging"]);
  assert.equal(s.code, 0, s.stderr);
  assert.deepEqual(api.requests[0].body, { durationMs: 3_600_000, comment: "charging" });
  assert.match(s.stdout, /^silenced low-battery until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(1h 0m\)\n$/);
  const noDur = await tether(["alerts", "silence", "low-battery"]);
  assert.equal(noDur.code, 2);
  const badDur = await tether(["alerts", "silence", "low-battery", "--duration", "forever"]);
  assert.equal(badDur.code, 2);
  assert.match(badDur.stderr, /--duration must be a duration/);
  const u = await tether(["alerts", "unsilence", "low-battery"]);
  assert.equal(u.code, 0, u.stderr);
  assert.equal(u.stdout, "low-battery is no longer silenced\n");
  const h = await tether(["alerts", "history", "--rule", "low-battery", "--device", "robot-3"]);
  assert.equal(h.code, 0, h.stderr);
  const q = api.requests.at(-1)!.query;
  assert.deepEqual([q.get("rule"), q.get("device"), q.get("limit")], ["low-battery", "robot-3", "100"]);
  assert.match(
    h.stdout,
    /^TIME +RULE +DEVICE +STATE +SUMMARY\n\d{4}-.* +low-battery +robot-3 +firing +battery 12 < 15\n$/,
  );
});

test("webhooks create: a generated secret printed once with a warning; or a secret read from a file", async () => {
  api.on("POST", "/api/v1/webhooks", (r, res) =>
    json(res, 201, {
      name: r.body.name,
      url: r.body.url,
      createdAt: ISO(0),
      createdBy: "admin",
      lastDelivery: null,
      ...(r.body.secret ? {} : { secret: "whsec_generated_0123456789abcdef" }),
    }),
  );
  const g = await tether(["webhooks", "create", "ops", "--url", "https://hooks.example.com/in"]);
  assert.equal(g.code, 0, g.stderr);
  assert.deepEqual(api.requests[0].body, { name: "ops", url: "https://hooks.example.com/in" });
  assert.match(g.stdout, /secret: whsec_generated_0123456789abcdef\n/);
  assert.match(g.stdout, /will not be shown again/);

  const file = join(dir, "secret");
  writeFileSync(file, "s3cret-s3cret-s3cret\n");
  const f = await tether([
    "webhooks",
    "create",
    "pager",
    "--url",
    "http://10.0.0.5:9000/",
    "--secret-file",
    file,
  ]);
  assert.equal(f.code, 0, f.stderr);
  assert.equal(api.requests[1].body.secret, "s3cret-s3cret-s3cret");
  assert.doesNotMatch(f.stdout, /secret/);

  writeFileSync(file, "short\n");
  for (const [args, why] of [
    [["webhooks", "create", "x", "--url", "ftp://h/"], /--url must be an http:\/\/ or https:\/\/ URL/],
    [["webhooks", "create", "x", "--url", "not a url"], /--url must be/],
    [["webhooks", "create", "x", "--url", "https://h/", "--secret-file", file], /must be 16-512 characters/],
    [
      ["webhooks", "create", "x", "--url", "https://h/", "--secret-file", join(dir, "none")],
      /cannot read --secret-file/,
    ],
    [["webhooks", "create", "x"], /required option '--url <url>'/],
  ] as const) {
    const r = await tether([...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, why);
  }
  assert.equal(api.requests.length, 2);
});

test("webhooks test: the outcome, exit 1 when it failed; list, deliveries, delete", async () => {
  let answer = delivery({});
  api.on("POST", "/api/v1/webhooks/ops/test", (_r, res) => json(res, 200, answer));
  const ok = await tether(["webhooks", "test", "ops"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, "delivered: HTTP 200 in 1 attempt\n");

  answer = delivery({ status: "failed", attempts: 1, httpStatus: 500, lastError: "Internal Server Error" });
  const bad = await tether(["webhooks", "test", "ops"]);
  assert.equal(bad.code, 1);
  assert.equal(bad.stdout, "failed after 1 attempt: HTTP 500: Internal Server Error\n");
  answer = delivery({ status: "failed", httpStatus: 302, lastError: "redirect to another host refused" });
  const j = await tether(["webhooks", "test", "ops", "--json"]);
  assert.equal(j.code, 1);
  assert.equal(JSON.parse(j.stdout).httpStatus, 302);
  assert.match(j.stderr, /tether: test delivery to ops failed after 1 attempt: HTTP 302: redirect/);
  answer = delivery({ status: "failed", httpStatus: null, lastError: "timed out after 10 s" });
  const hung = await tether(["webhooks", "test", "ops"]);
  assert.equal(hung.code, 1);
  assert.equal(hung.stdout, "failed after 1 attempt: timed out after 10 s\n");

  api.on("GET", "/api/v1/webhooks", (_r, res) =>
    json(res, 200, [
      {
        name: "ops",
        url: "https://hooks.example.com/in",
        createdAt: ISO(0),
        createdBy: "admin",
        lastDelivery: { at: ISO(0), status: "delivered" },
      },
    ]),
  );
  const l = await tether(["webhooks", "list"]);
  assert.equal(l.code, 0, l.stderr);
  assert.match(
    l.stdout,
    /^NAME +URL +LAST DELIVERY +CREATED\nops +https:\/\/hooks\.example\.com\/in +delivered \d{4}-/,
  );
  api.on("GET", "/api/v1/webhooks/ops/deliveries", (_r, res) =>
    json(res, 200, [
      delivery({
        id: 2,
        event: "firing",
        rule: "low-battery",
        device: "robot-3",
        status: "pending",
        attempts: 2,
        httpStatus: 503,
        lastError: "HTTP 503",
      }),
    ]),
  );
  const d = await tether(["webhooks", "deliveries", "ops"]);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /firing +low-battery +robot-3 +pending +2 +503 +HTTP 503\n$/);
  api.on("DELETE", "/api/v1/webhooks/ops", (_r, res) => {
    res.writeHead(204);
    res.end();
  });
  const del = await tether(["webhooks", "delete", "ops"]);
  assert.equal(del.code, 0, del.stderr);
  assert.equal(del.stdout, "deleted webhook ops\n");
});

test("an answer that does not match the protocol is refused, not printed", async () => {
  api.on("GET", "/api/v1/alerts", (_r, res) => json(res, 200, [{ rule: "x" }]));
  const r = await tether(["alerts", "list"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /GET \/api\/v1\/alerts: unexpected answer \(\[0\]: invalid message/);
});
