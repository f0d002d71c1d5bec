// @matrix: once
// The agent's `tether.logs.*` settings (docs/protocol.md §15): file (flat or nested, beside the
// metrics keys), flags, remote, and their precedence remote > file > flags > defaults; a bad
// file stops the agent with exit 2 naming the file and the key; the allow-list is device-only
// (remote settings can neither set it nor follow outside it); the docs table comes from the keys.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import pino from "pino";
import { AgentError, runAgent } from "../src/agent.js";
import { logsSettingsMarkdown } from "../src/capabilities/logs/settings-doc.js";
import { metricsSettingsMarkdown } from "../src/capabilities/metrics/settings-doc.js";
import { loadLogsSettings } from "../src/capabilities/logs/settings-load.js";
import {
  DEFAULT_LOGS_SETTINGS,
  LOGS_SETTING_KEYS,
  LogsSettingsError,
  parseLogsFlags,
  parseRemoteLogsSettings,
  pathAllowed,
  resolveLogsSettings,
} from "../src/capabilities/logs/settings.js";

const load = (file: unknown, flags = {}) =>
  loadLogsSettings({ settingsFile: "/etc/tether/agent.json", flags }, () =>
    typeof file === "string" ? file : JSON.stringify(file),
  );

test("defaults, then flags, then the file (flat or nested, beside metrics keys), then remote", () => {
  const d = load({});
  assert.deepEqual(
    Object.fromEntries(Object.keys(DEFAULT_LOGS_SETTINGS).map((k) => [k, (d.resolved as never)[k]])),
    DEFAULT_LOGS_SETTINGS,
  );
  const l = load(
    {
      "tether.metrics.interval": 5,
      tether: { logs: { rate: 50, journalUnits: ["nav.service"] } },
      "tether.logs.follow": ["/var/log/app/*.log"],
      "tether.logs.typo": 1,
    },
    { rate: "10", burst: "20", follow: ["relative.log"], journal: false },
  );
  const r = l.resolved;
  assert.equal(r.rate, 50, "file over flags");
  assert.equal(r.from.rate, "file");
  assert.equal(r.burst, 20);
  assert.equal(r.from.burst, "flag");
  assert.equal(r.journal, false);
  assert.deepEqual(r.follow, ["/var/log/app/*.log"]);
  assert.deepEqual(r.journalUnits, ["nav.service"]);
  // Both the file's and the flags' follow entries are allowed; a relative flag path is made absolute.
  assert.deepEqual(r.allowed.sort(), ["/var/log/app/*.log", join(process.cwd(), "relative.log")].sort());
  assert.deepEqual(l.warnings, ["/etc/tether/agent.json: unknown setting tether.logs.typo (ignored)"]);

  const { layer, refused } = parseRemoteLogsSettings({ rate: 5, flushMs: 100 }, r.allowed);
  assert.deepEqual(refused, []);
  const remote = resolveLogsSettings({ flags: l.flags, file: l.file, remote: layer });
  assert.equal(remote.rate, 5);
  assert.equal(remote.from.rate, "remote");
  assert.equal(remote.flushMs, 100);
});

test("a bad settings file or flag is an error naming the file (or flag) and the key", () => {
  const bad = (file: unknown, re: RegExp) =>
    assert.throws(
      () => load(file),
      (e: unknown) => e instanceof LogsSettingsError && re.test(e.message),
    );
  bad("{oops", /^\/etc\/tether\/agent\.json: \(file\): not valid JSON/);
  bad(
    { "tether.logs.rate": "fast" },
    /^\/etc\/tether\/agent\.json: tether\.logs\.rate: expected an integer 1-1000000$/,
  );
  bad(
    { tether: { logs: { follow: ["/var/log/**/x.log"] } } },
    /tether\.logs\.follow: entry 0: .*`\*\*` is not supported/,
  );
  bad({ "tether.logs.maxLineBytes": 1_000_000 }, /tether\.logs\.maxLineBytes: expected an integer 256-16384/);
  bad({ "tether.logs.journal": "yes" }, /tether\.logs\.journal: expected true or false/);
  bad({ "tether.logs.rate": 1, tether: { logs: { rate: 2 } } }, /tether\.logs\.rate: given twice/);
  assert.throws(
    () => parseLogsFlags({ rate: "-3" }),
    /^LogsSettingsError|flag: --log-rate: expected an integer/,
  );
  assert.throws(
    () => loadLogsSettings({ settingsFile: "/nope.json" }),
    (e: unknown) => e instanceof LogsSettingsError && /\/nope\.json: \(file\): cannot read/.test(e.message),
  );
});

test("the agent stops with exit 2 on a bad tether.logs key, before it enrolls", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tether-logs-agent-"));
  try {
    const file = join(dir, "agent.json");
    writeFileSync(file, JSON.stringify({ "tether.metrics.interval": 5, "tether.logs.deviceRate": 0 }));
    await assert.rejects(
      runAgent({
        dataDir: join(dir, "data"),
        metrics: { settingsFile: file },
        log: pino({ level: "silent" }),
      }),
      (e: unknown) =>
        e instanceof AgentError &&
        e.exitCode === 2 &&
        e.message === `${file}: tether.logs.deviceRate: expected an integer 1-1000000`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("remote settings never set the allow-list and never follow outside it", () => {
  const allowed = ["/var/log/app/*.log", "/var/log/ros/", "/opt/robot/nav.log"];
  const { layer, refused } = parseRemoteLogsSettings(
    {
      "tether.logs.allow": ["/"],
      "tether.logs.follow": [
        "/var/log/app/nav.log",
        "/var/log/app/*.log",
        "/var/log/app/*",
        "/var/log/ros/deep/x.log",
        "/opt/robot/nav.log",
        "/etc/shadow",
        "/var/log/app/../../../etc/shadow",
        "/opt/robot/*.log",
      ],
    },
    allowed,
  );
  assert.deepEqual(layer.follow, [
    "/var/log/app/nav.log",
    "/var/log/app/*.log",
    "/var/log/app/*",
    "/var/log/ros/deep/x.log",
    "/opt/robot/nav.log",
    "/opt/robot/*.log",
  ]);
  assert.equal(layer.allow, undefined);
  assert.ok(refused.includes("remote: tether.logs.allow is set only by the device's own file or flags"));
  assert.ok(refused.some((r) => r.startsWith("remote: log path /etc/shadow refused")));
  assert.deepEqual(
    parseRemoteLogsSettings({ follow: ["/var/log/app/../../../etc/shadow"] }, allowed).refused.map((r) =>
      r.slice(0, 40),
    ),
    ["remote: log path /etc/shadow refused: ou"],
    ".. is normalised before the check",
  );
  // A glob that may overlap is kept, but each file it finds must be allowed itself.
  assert.ok(pathAllowed("/var/log/app/nav.log", allowed));
  assert.ok(!pathAllowed("/var/log/app/nav.txt", allowed), "/var/log/app/* finds it; the file is refused");
  assert.ok(!pathAllowed("/opt/robot/other.log", allowed));
  assert.ok(pathAllowed("/var/log/ros/a/b/c.log", allowed));
  // Relative remote paths mean nothing on the device.
  assert.deepEqual(parseRemoteLogsSettings({ follow: ["app.log"] }, allowed).refused, [
    "remote: tether.logs.follow: paths must be absolute",
  ]);
  // resolve ignores a device-only value that slipped into a remote layer anyway.
  const r = resolveLogsSettings({ flags: { allow: ["/a/*"] }, remote: { allow: ["/"] } });
  assert.deepEqual(r.allowed, ["/a/*"]);
  assert.deepEqual(r.allow, ["/a/*"]);
});

test("the keys render as the Markdown table of the docs", () => {
  const md = logsSettingsMarkdown().split("\n");
  assert.equal(md.length, 2 + LOGS_SETTING_KEYS.length);
  assert.match(
    md[2]!,
    /^\| `tether\.logs\.follow` \| list of paths or globs \| `\[\]` \| `--follow-log` \| device, remote \|/,
  );
  assert.ok(md.some((l) => l.startsWith("| `tether.logs.allow`") && l.includes("device only")));
  assert.ok(md.some((l) => l.startsWith("| `tether.logs.rate`") && l.includes("`--log-rate`")));
});

/** A Markdown table with its cell padding and rule lengths made uniform (a formatter may pad them). */
const cells = (md: string) => md.replace(/[ \t]*\|[ \t]*/g, "|").replace(/-{3,}/g, "---");

test("docs/protocol.md §15.4 and §14.6 carry the generated settings tables", () => {
  const doc = cells(readFileSync(new URL("../../../docs/protocol.md", import.meta.url), "utf8"));
  assert.ok(
    doc.includes(cells(logsSettingsMarkdown())),
    "docs/protocol.md §15.4: regenerate with logsSettingsMarkdown()",
  );
  assert.ok(
    doc.includes(cells(metricsSettingsMarkdown())),
    "docs/protocol.md §14.6: regenerate with metricsSettingsMarkdown()",
  );
});
