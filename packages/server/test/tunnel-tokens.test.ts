// @matrix: once
// Dial-back tokens (docs/protocol.md §17.1): single use, short-lived, bound to one session of one
// device; a wrong presentation spends the token too (no second guess).
import assert from "node:assert/strict";
import { test } from "node:test";
import { TUNNEL_LIMITS, TUNNEL_TOKEN_PATTERN } from "@tether/protocol";
import { TunnelTokens } from "../src/tunnels/tokens.js";

const SID = "ses_aaaaaaaaaaaaaaaaaaaa";
const SID2 = "ses_bbbbbbbbbbbbbbbbbbbb";

function clocked() {
  let now = 1_000_000;
  return { tokens: new TunnelTokens(() => now), advance: (ms: number) => (now += ms) };
}

test("a token is 43 base64url characters, different every time, and opens its session once", () => {
  const { tokens } = clocked();
  const t = tokens.issue(SID, "dev_1");
  assert.match(t, new RegExp(TUNNEL_TOKEN_PATTERN));
  assert.notEqual(tokens.issue(SID2, "dev_1"), t);
  assert.equal(tokens.take(SID, "dev_1", t), true);
  assert.equal(tokens.take(SID, "dev_1", t), "unknown", "a replay is refused");
});

test("expired, other device, other session and guessed tokens are refused", () => {
  const { tokens, advance } = clocked();
  const a = tokens.issue(SID, "dev_1");
  advance(TUNNEL_LIMITS.tokenTtlMs + 1);
  assert.equal(tokens.take(SID, "dev_1", a), "expired");

  const b = tokens.issue(SID, "dev_1");
  assert.equal(tokens.take(SID, "dev_2", b), "device");
  assert.equal(tokens.take(SID, "dev_1", b), "unknown", "spent by the wrong device's try");

  const c = tokens.issue(SID, "dev_1");
  tokens.issue(SID2, "dev_1");
  assert.equal(tokens.take(SID2, "dev_1", c), "mismatch", "a token for another session");
  assert.equal(tokens.take(SID, "dev_1", c), true, "its own session still opens");

  const d = tokens.issue(SID, "dev_1");
  const guess = `${d.slice(0, 42)}${d[42] === "A" ? "B" : "A"}`;
  assert.equal(tokens.take(SID, "dev_1", guess), "mismatch");
  assert.equal(tokens.take(SID, "dev_1", d), "unknown", "one guess spends the token");
  assert.equal(tokens.take("ses_cccccccccccccccccccc", "dev_1", d), "unknown");
});

test("revoke voids a token; expired tokens do not pile up", () => {
  const { tokens, advance } = clocked();
  const a = tokens.issue(SID, "dev_1");
  tokens.revoke(SID);
  assert.equal(tokens.take(SID, "dev_1", a), "unknown");
  for (let i = 0; i < 100; i++) tokens.issue(`ses_${String(i).padStart(20, "0")}`, "dev_1");
  advance(TUNNEL_LIMITS.tokenTtlMs + 1);
  tokens.issue(SID, "dev_1");
  assert.equal(tokens.size, 1);
});
