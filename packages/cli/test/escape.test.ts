// @matrix: once
/** Device-provided text on the terminal (issue 9, finding 8): escape.ts. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { escapeControl, escapeOutput, guardIo } from "../src/escape.js";
import { fakeIo } from "./in-process-cli.js";

test("escapeOutput keeps newlines and tabs and makes every other control visible", () => {
  assert.equal(escapeOutput("a\tb\nc"), "a\tb\nc");
  assert.equal(escapeOutput("x\x1b]52;c;aGk=\x07y"), "x\\u001b]52;c;aGk=\\u0007y");
  assert.equal(escapeOutput("\x9b2J\x7f\r\u202e"), "\\u009b2J\\u007f\\u000d\\u202e");
  assert.equal(escapeOutput("plain ü 名前"), "plain ü 名前");
});

test("escapeOutput keeps JSON valid and equal", () => {
  const v = { name: "ev\x1b[31mil\x9b\u2028\x7f" };
  const out = escapeOutput(JSON.stringify(v));
  assert.ok(!/[\x1b\x7f-\x9f\u2028]/.test(out));
  assert.deepEqual(JSON.parse(out), v);
});

test("escapeControl renders one field on one line", () => {
  assert.equal(escapeControl("a\nb\x1b"), "a\\nb\\x1b");
});

test("guardIo escapes text and passes bytes unchanged", () => {
  const fake = fakeIo({}, "/");
  const io = guardIo(fake);
  const { stdout, stderr } = io; // unbound, as FleetPrinter uses them
  stdout("name \x1b[2J\n");
  stderr("err \x07\n");
  const raw = Buffer.from("remote \x1b[1mbold\x1b[0m\n");
  stdout(raw);
  assert.deepEqual(
    fake.chunks.map((c) => c.data),
    ["name \\u001b[2J\n", "err \\u0007\n", raw],
  );
});
