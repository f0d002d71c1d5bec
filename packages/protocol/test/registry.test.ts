// @matrix: once
// The message registry (docs/protocol.md §7) is the one place durability is declared: the
// sets the transport uses are derived from it, and the protocol document's tables agree.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  DownMessages,
  DURABLE_DOWN,
  DURABLE_UP,
  decodeDown,
  decodeUp,
  encodeMessage,
  isDurableDown,
  isDurableUp,
  UpMessages,
} from "../src/index.js";

/** `| `t` | durable | …` rows of the table that follows `heading` in docs/protocol.md §7. */
function docTable(heading: string): Map<string, boolean> {
  const doc = readFileSync(new URL("../../../docs/protocol.md", import.meta.url), "utf8");
  const section = doc.slice(doc.indexOf("## §7 Messages"), doc.indexOf("## §8"));
  const rest = section.slice(section.indexOf(heading));
  const rows = new Map<string, boolean>();
  for (const line of rest.split("\n").slice(2)) {
    if (rows.size && !line.startsWith("|")) break;
    const m = /^\|\s*`([a-z.]+)`\s*\|\s*(\*\*yes\*\*|no)\s*\|/.exec(line);
    if (m) rows.set(m[1], m[2] !== "no");
  }
  return rows;
}

test("durability comes from the registry, and the protocol document's tables agree", () => {
  for (const [dir, specs, durable, heading] of [
    ["up", UpMessages, DURABLE_UP, "**Up (agent → server)**"],
    ["down", DownMessages, DURABLE_DOWN, "**Down (server → agent)**"],
  ] as const) {
    const documented = docTable(heading);
    assert.deepEqual(
      [...documented.keys()].sort(),
      Object.keys(specs).sort(),
      `${dir}: docs/protocol.md §7 lists exactly the registry's message types`,
    );
    for (const [t, spec] of Object.entries(specs)) {
      assert.equal((durable as ReadonlySet<string>).has(t), spec.durable, `${dir} ${t}: derived set`);
      assert.equal(documented.get(t), spec.durable, `${dir} ${t}: durability in docs/protocol.md §7`);
    }
  }
  assert.ok(isDurableUp("exec.result") && !isDurableUp("exec.output"));
  assert.ok(isDurableDown("exec.start") && !isDurableDown("exec.ack"));
});

test("a durable message without a mid, or a plain one with a mid, is refused", () => {
  const body = { cmd: "cmd_aaaaaaaaaaaaaaaaaaaa" };
  assert.throws(() => decodeDown(encodeMessage({ t: "exec.cancel", b: body })), /mid presence/);
  assert.equal(decodeDown(encodeMessage({ t: "exec.cancel", mid: 3, b: body })).mid, 3);
  assert.throws(() => decodeUp(encodeMessage({ t: "pong", mid: 1, b: { ref: 1 } })), /mid presence/);
  assert.throws(() => decodeUp(encodeMessage({ t: "no.such", b: {} })), /unknown message type/);
});
