// @matrix: once
/**
 * `tether audit list` against a real in-process server: one line per event (time, who, what
 * in words), the filters, paging past the server's page size with a hint for what is left,
 * and --json with every detail.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { parseWhen } from "../src/commands/audit.js";
import { type InProcessCli, startInProcessCli } from "./in-process-cli.js";

let cli: InProcessCli;
const tether = (args: string[]) => cli.tether(args);

before(async () => {
  cli = await startInProcessCli("tether-cli-audit-");
  assert.equal((await tether(["users", "create", "bob", "--role", "operator"])).code, 0);
  assert.equal((await tether(["users", "set-role", "bob", "viewer"])).code, 0);
  assert.equal((await tether(["projects", "exec-users", "deploy"])).code, 0);
  // More than one server page's worth at the CLI's default --limit (100), cheaply.
  for (let i = 0; i < 105; i++) assert.equal((await tether(["token", "create", "--json"])).code, 0);
});

after(async () => {
  await cli?.close();
});

test("one line per event: time, who, what happened in words", async () => {
  const r = await tether(["audit", "list", "--actor", "admin", "--action", "user.*"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  assert.match(lines[0], /^TIME\s+WHO\s+WHAT$/);
  assert.equal(lines.length, 3);
  assert.match(
    lines[1],
    /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}admin {2}changed the role of bob from operator to viewer$/,
  );
  assert.match(lines[2], /^\S+ \S+ {2}admin {2}created the user bob as operator$/);
  assert.ok(!r.stdout.includes("{"), "no JSON in the listing");
  assert.equal(r.stderr, "");
});

test("--limit pages and says how to go on; --before continues; --all gets everything", async () => {
  const total = (
    await cli.srv.services.audit.list(await cli.srv.services.accounts.projectId("default"), { limit: 1000 })
  ).length;
  assert.ok(total > 105, String(total));
  const first = await tether(["audit", "list", "--limit", "100", "--json"]);
  const page = JSON.parse(first.stdout) as { id: number }[];
  assert.equal(page.length, 100);
  const text = await tether(["audit", "list", "--limit", "3"]);
  assert.equal(text.stdout.trimEnd().split("\n").length, 4);
  const m = /add --before (\d+)/.exec(text.stderr);
  assert.ok(m, text.stderr);
  const rest = JSON.parse(
    (await tether(["audit", "list", "--before", page[99].id.toString(), "--all", "--json"])).stdout,
  );
  assert.equal(page.length + rest.length, total);
  assert.ok(rest.every((e: { id: number }) => e.id < page[99].id));
  const all = JSON.parse((await tether(["audit", "list", "--all", "--json"])).stdout);
  assert.equal(all.length, total);
  // --json keeps every detail.
  const exec = all.find((e: { action: string }) => e.action === "project.exec-users");
  assert.deepEqual(exec.detail, { execUsers: ["deploy"] });
});

test("--since and --until take a duration ago or a date; a bad one is a usage error", async () => {
  const none = await tether(["audit", "list", "--until", "1h"]);
  assert.equal(none.code, 0);
  assert.equal(none.stdout, "");
  assert.match(none.stderr, /no audit entries/);
  const recent = JSON.parse(
    (await tether(["audit", "list", "--since", "1h", "--limit", "5", "--json"])).stdout,
  );
  assert.equal(recent.length, 5);
  const bad = await tether(["audit", "list", "--since", "last tuesday"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--since must be a duration ago/);
  const now = Date.parse("2026-05-01T12:00:00Z");
  assert.equal(parseWhen("2h", "--since", now), "2026-05-01T10:00:00.000Z");
  assert.equal(parseWhen("2026-04-30T08:00:00Z", "--since", now), "2026-04-30T08:00:00.000Z");
});

test("--device by a name the server does not know is an error, not an empty list", async () => {
  const r = await tether(["audit", "list", "--device", "robot-404"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /robot-404|device/i);
});
