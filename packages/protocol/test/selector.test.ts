// @matrix: once
// The one selector parse rule (src/selector.ts), shared by the server, the CLI and the console:
// `k=v,k2!=v2` over label keys and `fact.NAME`; anything else is TETHER_ERR_BAD_SELECTOR (400)
// with a message that says what is wrong in words.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ERRORS, TetherError } from "../src/errors.js";
import { isSelector, parseSelector, SELECTOR_RULE } from "../src/selector.js";

function refused(s: string, message: RegExp) {
  assert.throws(
    () => parseSelector(s),
    (e: unknown) => {
      assert.ok(e instanceof TetherError, `${JSON.stringify(s)} threw ${String(e)}`);
      assert.equal(e.code, "TETHER_ERR_BAD_SELECTOR");
      assert.equal(e.status, 400);
      assert.match(e.message, message, `message for ${JSON.stringify(s)}`);
      assert.doesNotMatch(e.message, /must match pattern|instancePath|\/selector/, "no schema talk");
      return true;
    },
    `selector ${JSON.stringify(s)}`,
  );
  assert.equal(isSelector(s), false);
}

test("TETHER_ERR_BAD_SELECTOR is in the one error table, as a 400", () => {
  assert.equal(ERRORS.TETHER_ERR_BAD_SELECTOR.status, 400);
});

test("terms, both operators, label keys, fact keys and whitespace", () => {
  assert.deepEqual(parseSelector("site=tokyo"), [{ key: "site", op: "=", value: "tokyo" }]);
  assert.deepEqual(parseSelector(" site = tokyo , role!=db,fact.arch=arm64 "), [
    { key: "site", op: "=", value: "tokyo" },
    { key: "role", op: "!=", value: "db" },
    { key: "fact.arch", op: "=", value: "arm64" },
  ]);
  assert.deepEqual(parseSelector("example.com/tier-1_x=a b"), [
    { key: "example.com/tier-1_x", op: "=", value: "a b" },
  ]);
  assert.deepEqual(parseSelector("fact.addresses=fe80::1,fact.osRelease!=22.04"), [
    { key: "fact.addresses", op: "=", value: "fe80::1" },
    { key: "fact.osRelease", op: "!=", value: "22.04" },
  ]);
  assert.deepEqual(parseSelector("k=a!b"), [{ key: "k", op: "=", value: "a!b" }], "! inside a value");
  assert.equal(isSelector("site=tokyo,fact.arch=arm64"), true);
});

test("the operator's mistakes are refused in words", () => {
  refused("site=", /^"site=" has no value: a selector is key=value/);
  refused("site= ", /^"site=" has no value/);
  refused("=x", /^"=x" has no key: /);
  refused("!=x", /^"!=x" has no key: /);
  refused("a", /^"a" has no "=": /);
  refused("site", /^"site" has no "="/);
  refused("site==x", /^"site==x" has more than one "=": /);
  refused("site!==x", /more than one "="/);
  refused("a=b=c", /more than one "="/);
  refused("a=b,,c=d", /^"a=b,,c=d" has an empty pair/);
  refused("a=b,", /empty pair/);
  refused(",a=b", /empty pair/);
  refused(",", /empty pair/);
  refused("", /^the selector is empty: /);
  refused("   ", /^the selector is empty: /);
  refused("si te=x", /bad key "si te"/);
  refused("ké=v", /bad key "ké"/);
  refused("k:v=1", /bad key "k:v"/);
  refused("fact.=x", /bad key "fact\."/);
  refused("fact.a-b=x", /bad key "fact\.a-b"/);
  refused(`${"k".repeat(64)}=v`, /bad key/);
  refused(`k=${"v".repeat(257)}`, /longer than 256/);
  // Every "has no …" message teaches the rule with an example.
  assert.match(SELECTOR_RULE, /site=tokyo,fact\.arch=arm64/);
});

test("a long term is shortened in the message", () => {
  assert.throws(
    () => parseSelector(`${"x".repeat(500)}`),
    (e: Error) => e.message.length < 300 && /\.\.\."/.test(e.message),
  );
});
