// @matrix: once
// Device selectors: `k=v,k2!=v2` over labels and `fact.` keys; every term must hold.
import assert from "node:assert/strict";
import { test } from "node:test";
import { TetherError } from "@tether/protocol";
import { matches, parseSelector } from "../src/selector.js";

function badRequest(s: string) {
  assert.throws(
    () => parseSelector(s),
    (e: unknown) => {
      assert.ok(e instanceof TetherError, `${JSON.stringify(s)} threw ${String(e)}`);
      assert.equal(e.code, "TETHER_ERR_BAD_REQUEST");
      assert.equal(e.status, 400);
      assert.match(e.message, /bad selector term/);
      return true;
    },
    `selector ${JSON.stringify(s)}`,
  );
}

test("parseSelector: empty and blank selectors have no terms", () => {
  assert.deepEqual(parseSelector(""), []);
  assert.deepEqual(parseSelector("   "), []);
});

test("parseSelector: terms, operators and whitespace", () => {
  assert.deepEqual(parseSelector("site=tokyo"), [{ key: "site", op: "=", value: "tokyo" }]);
  assert.deepEqual(parseSelector(" site = tokyo , role!=db,fact.arch=arm64 "), [
    { key: "site", op: "=", value: "tokyo" },
    { key: "role", op: "!=", value: "db" },
    { key: "fact.arch", op: "=", value: "arm64" },
  ]);
  assert.deepEqual(parseSelector("example.com/tier-1_x=a b"), [
    { key: "example.com/tier-1_x", op: "=", value: "a b" },
  ]);
  assert.deepEqual(parseSelector("k="), [{ key: "k", op: "=", value: "" }], "empty value is allowed");
  assert.deepEqual(parseSelector("k==v"), [{ key: "k", op: "=", value: "=v" }]);
});

test("parseSelector: a bad term is a TETHER_ERR_BAD_REQUEST", () => {
  for (const s of [
    "site",
    "=tokyo",
    "!=x",
    "si te=x",
    "a!b",
    "k:v",
    "a=b,",
    ",a=b",
    "a=b,,c=d",
    "ké=v",
    "k<v",
  ])
    badRequest(s);
});

test("matches: an empty selector matches every device", () => {
  assert.equal(matches([], {}, null), true);
  assert.equal(matches(parseSelector(""), { a: "b" }, { arch: "x" }), true);
});

test("matches: labels with = and !=", () => {
  const labels = { site: "tokyo", role: "web" };
  const m = (s: string) => matches(parseSelector(s), labels, null);
  assert.equal(m("site=tokyo"), true);
  assert.equal(m("site=osaka"), false);
  assert.equal(m("site!=osaka"), true);
  assert.equal(m("site!=tokyo"), false);
  assert.equal(m("site=tokyo,role=web"), true);
  assert.equal(m("site=tokyo,role=db"), false, "every term must hold");
  assert.equal(m("site=tokyo,role!=db"), true);
  assert.equal(m("missing=x"), false);
  assert.equal(m("missing!=x"), true, "an absent label is not equal to anything");
  assert.equal(m("Site=tokyo"), false, "keys are case-sensitive");
  assert.equal(m("site=Tokyo"), false, "values are case-sensitive");
});

test("matches: fact.* keys read facts, not labels", () => {
  const labels = { arch: "label-arch" };
  const facts = { arch: "arm64", cpus: 4, virt: false, os: null };
  const m = (s: string, f: Record<string, unknown> | null = facts) => matches(parseSelector(s), labels, f);
  assert.equal(m("fact.arch=arm64"), true);
  assert.equal(m("fact.arch=label-arch"), false);
  assert.equal(m("arch=label-arch"), true);
  assert.equal(m("arch=arm64"), false);
  assert.equal(m("fact.cpus=4"), true, "numbers compare as strings");
  assert.equal(m("fact.virt=false"), true);
  assert.equal(m("fact.os=null"), false, "a null fact is absent");
  assert.equal(m("fact.os!=x"), true);
  assert.equal(m("fact.missing!=x"), true);
  assert.equal(m("fact.arch=arm64", null), false, "no facts reported yet");
  assert.equal(m("fact.arch!=arm64", null), true);
  assert.equal(m("fact.arch=arm64,arch=label-arch"), true);
});

test("matches: array facts match when any element equals the value", () => {
  const facts = { addresses: ["10.0.0.5", "fe80::1", "192.168.1.9"], ports: [22, 443], empty: [] };
  const m = (s: string) => matches(parseSelector(s), {}, facts);
  assert.equal(m("fact.addresses=10.0.0.5"), true);
  assert.equal(m("fact.addresses=192.168.1.9"), true);
  assert.equal(m("fact.addresses=10.0.0.6"), false);
  assert.equal(m("fact.addresses=10.0.0.5 fe80::1"), false, "not the joined string");
  assert.equal(m("fact.addresses!=10.0.0.5"), false);
  assert.equal(m("fact.addresses!=10.0.0.6"), true);
  assert.equal(m("fact.ports=443"), true);
  assert.equal(m("fact.empty=x"), false);
  assert.equal(m("fact.empty!=x"), true);
  assert.equal(m("fact.addresses=10.0.0.5,fact.ports=22"), true);
});

test("matches: label lookups do not reach Object.prototype", () => {
  const m = (s: string) => matches(parseSelector(s), {}, {});
  assert.equal(m("constructor!=x"), true);
  assert.equal(m("toString=x"), false);
});
