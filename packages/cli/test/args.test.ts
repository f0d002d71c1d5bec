// @matrix: once
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseDuration, parseHostPort, parseIntArg, parseLabels, parseRole } from "../src/args.js";
import { CliError } from "../src/io.js";

const usageError = (fn: () => unknown) =>
  assert.throws(fn, (e: unknown) => e instanceof CliError && e.exitCode === 2);

test("labels: k=v sets, k- removes, values may hold = and be empty", () => {
  assert.deepEqual(parseLabels(["site=lab", "arch-", "x=a=b", "e="]), {
    site: "lab",
    arch: null,
    x: "a=b",
    e: "",
  });
  assert.deepEqual(parseLabels(["a/b.c_d-e=1"]), { "a/b.c_d-e": "1" });
  usageError(() => parseLabels(["nolabel"]));
  usageError(() => parseLabels(["=v"]));
  usageError(() => parseLabels(["bad key=v"]));
  usageError(() => parseLabels(["k-"], false));
  usageError(() => parseLabels([`k=${"x".repeat(257)}`]));
});

test("durations", () => {
  assert.equal(parseDuration("30s"), 30);
  assert.equal(parseDuration("15m"), 900);
  assert.equal(parseDuration("1h"), 3600);
  assert.equal(parseDuration("7d"), 604800);
  assert.equal(parseDuration("1w"), 604800);
  assert.equal(parseDuration("1h30m"), 5400);
  assert.equal(parseDuration("45"), 45);
  assert.equal(parseDuration("0.5s"), 0.5);
  assert.equal(parseDuration("0", true), 0);
  usageError(() => parseDuration("0"));
  usageError(() => parseDuration("1x"));
  usageError(() => parseDuration("h"));
  usageError(() => parseDuration("-1h"));
  usageError(() => parseDuration(""));
});

test("host:port", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:0"), { host: "127.0.0.1", port: 0 });
  assert.deepEqual(parseHostPort("0.0.0.0:8443"), { host: "0.0.0.0", port: 8443 });
  assert.deepEqual(parseHostPort("[::1]:8883"), { host: "::1", port: 8883 });
  assert.deepEqual(parseHostPort("example.org:1"), { host: "example.org", port: 1 });
  assert.deepEqual(parseHostPort(":9000"), { host: "0.0.0.0", port: 9000 });
  usageError(() => parseHostPort("localhost"));
  usageError(() => parseHostPort("::1:80"));
  usageError(() => parseHostPort("h:70000"));
  usageError(() => parseHostPort("h:x"));
});

test("integers and roles", () => {
  assert.equal(parseIntArg("3", "--count"), 3);
  usageError(() => parseIntArg("0", "--count"));
  usageError(() => parseIntArg("1.5", "--count"));
  assert.equal(parseRole("viewer"), "viewer");
  usageError(() => parseRole("root"));
});
