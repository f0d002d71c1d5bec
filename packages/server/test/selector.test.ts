// @matrix: once
// Device selectors: `k=v,k2!=v2` over labels and `fact.` keys; every term must hold.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSelector } from "@tether/protocol";
import { matches } from "../src/selector.js";

// The parse rule is @tether/protocol's (packages/protocol/test/selector.test.ts); matching is here.

test("matches: an empty selector matches every device", () => {
  assert.equal(matches([], {}, null), true);
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
