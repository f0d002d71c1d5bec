// @matrix: once
import assert from "node:assert/strict";
import { test } from "node:test";
import { escapeControl } from "../src/escape.js";
import { table } from "../src/table.js";

test("control characters are escaped", () => {
  assert.equal(escapeControl("evil\x1b[31mred\x07"), "evil\\x1b[31mred\\x07");
  assert.equal(escapeControl("a\nb\rc\td"), "a\\nb\\rc\\td");
  assert.equal(escapeControl("\x9b2J\x7f"), "\\x9b2J\\x7f");
  assert.equal(escapeControl("rtl\u202eexe"), "rtl\\u202eexe");
  assert.equal(escapeControl("plain-name_1.ü"), "plain-name_1.ü");
});

test("tables pad columns and escape every cell", () => {
  const out = table(
    ["id", "name", "state"],
    [
      ["d1", "\x1b]0;pwned\x07", "online"],
      ["d22", null, "pending"],
    ],
  );
  assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(out), "no raw control characters");
  const lines = out.trimEnd().split("\n");
  assert.equal(lines[0], `ID   ${"NAME".padEnd(16)}  STATE`);
  assert.equal(lines[1], "d1   \\x1b]0;pwned\\x07  online");
  assert.equal(lines[2], `d22  ${"-".padEnd(16)}  pending`);
});
