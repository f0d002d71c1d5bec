// @matrix: once
// The built-in table of the agent's remotely configurable settings (@tether/protocol/config
// AGENT_SETTINGS, which the server checks every write against) agrees with the agent modules'
// own key lists (names and device-only), and checkAgentSettings refuses what they refuse.
import assert from "node:assert/strict";
import { test } from "node:test";
import { AGENT_SETTINGS, checkAgentSettings } from "@tether/protocol/config";
import { CONFIG_SETTING_KEYS, parseRemoteConfigSettings } from "../src/capabilities/config/settings.js";
import { LOGS_SETTING_KEYS, parseRemoteLogsSettings } from "../src/capabilities/logs/settings.js";
import { METRICS_SETTING_KEYS, parseRemoteSettings } from "../src/capabilities/metrics/settings.js";

const moduleKeys = [...METRICS_SETTING_KEYS, ...LOGS_SETTING_KEYS, ...CONFIG_SETTING_KEYS];

test("AGENT_SETTINGS lists exactly the modules' keys, with the same device-only marks", () => {
  const table = new Map(AGENT_SETTINGS.map((s) => [s.key, s.deviceOnly]));
  const modules = new Map(moduleKeys.map((k) => [k.key, k.deviceOnly]));
  assert.deepEqual([...table.keys()].sort(), [...modules.keys()].sort());
  for (const [key, deviceOnly] of modules) assert.equal(table.get(key), deviceOnly, key);
});

test("every device-only key is refused, naming it", () => {
  for (const k of moduleKeys.filter((x) => x.deviceOnly)) {
    const [, mod, name] = k.key.split(".") as [string, string, string];
    const r = checkAgentSettings({ tether: { [mod]: { [name]: k.default } } });
    assert.equal(r, `${k.key} is device-only: remote configuration can never set it`);
  }
  assert.equal(
    checkAgentSettings({ tether: { logs: { allow: ["/var/log/"] } } }),
    "tether.logs.allow is device-only: remote configuration can never set it",
  );
});

test("unknown keys, wrong types and ranges are refused; null and other keys pass", () => {
  assert.match(
    checkAgentSettings({ tether: { logs: { ratee: 5 } } }) ?? "",
    /tether\.logs\.ratee is not an agent setting/,
  );
  assert.match(checkAgentSettings({ tether: { nope: {} } }) ?? "", /tether\.nope is not an agent setting/);
  assert.match(
    checkAgentSettings({ tether: { logs: { rate: "fast" } } }) ?? "",
    /^tether\.logs\.rate: expected an integer/,
  );
  assert.match(
    checkAgentSettings({ tether: { metrics: { interval: 0.5 } } }) ?? "",
    /^tether\.metrics\.interval: must be between 1/,
  );
  assert.match(checkAgentSettings({ tether: { logs: { follow: ["var/log/x"] } } }) ?? "", /absolute/);
  assert.match(checkAgentSettings({ tether: { config: { hookTimeout: 0 } } }) ?? "", /hookTimeout/);
  assert.match(checkAgentSettings({ tether: "x" }) ?? "", /expected an object/);
  assert.equal(
    checkAgentSettings({ tether: { logs: null, metrics: { interval: null } }, nav: { hz: 5 } }),
    undefined,
  );
  assert.equal(checkAgentSettings({ nav: { tether: { anything: 1 } } }), undefined);
});

test("what the table accepts, the modules accept remotely, and what it refuses they refuse", () => {
  const ok: [string, string, unknown][] = [
    ["metrics", "interval", 5],
    ["metrics", "interval", "30s"],
    ["metrics", "statsdPort", 0],
    ["metrics", "bufferSize", "64MiB"],
    ["metrics", "maxSeries", 500],
    ["logs", "rate", 50],
    ["logs", "journal", false],
    ["logs", "journalUnits", ["ssh.service"]],
    ["logs", "flushMs", 100],
    ["logs", "maxLineBytes", 1024],
    ["config", "hookTimeout", 30],
  ];
  const bad: [string, string, unknown][] = [
    ["metrics", "interval", "soon"],
    ["metrics", "statsdPort", 70000],
    ["metrics", "bufferSize", 10],
    ["logs", "rate", 0],
    ["logs", "journal", "yes"],
    ["logs", "flushMs", 5],
    ["logs", "maxLineBytes", 10],
    ["config", "hookTimeout", 0.5],
    ["config", "hookTimeout", "long"],
  ];
  const remote = (mod: string, name: string, v: unknown) => {
    const raw = { [name]: v };
    if (mod === "metrics") return parseRemoteSettings(raw, []).refused;
    if (mod === "logs") return parseRemoteLogsSettings(raw, []).refused;
    return parseRemoteConfigSettings(raw).refused;
  };
  for (const [mod, name, v] of ok) {
    assert.equal(checkAgentSettings({ tether: { [mod]: { [name]: v } } }), undefined, `${mod}.${name}=${v}`);
    assert.deepEqual(remote(mod, name, v), [], `${mod}.${name}=${v}`);
  }
  for (const [mod, name, v] of bad) {
    assert.ok(checkAgentSettings({ tether: { [mod]: { [name]: v } } }), `table refuses ${mod}.${name}=${v}`);
    assert.equal(remote(mod, name, v).length, 1, `module refuses ${mod}.${name}=${v}`);
  }
});
