// @matrix: once
// Capability modules (capabilities.ts): one handler per downstream type, modules reach the
// control channel only through the injected ports (fakes here), lifecycle hooks in list order.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type DownType, DownMessages, isDurableDown } from "@tether/protocol";
import pino from "pino";
import { capabilities } from "../src/capabilities.js";
import { credential } from "../src/capabilities/credential/index.js";
import { execJournal, execStarted } from "../src/capabilities/exec/exec-journal.js";
import { ping } from "../src/capabilities/ping/index.js";
import type { AnyCapability, CapabilityPorts } from "../src/capability.js";
import { hostCapabilities } from "../src/capability-host.js";
import { CORE_DOWN_TYPES, coreHandlers } from "../src/control/core-handlers.js";
import type { JournalRecord, OutRecord } from "../src/control/journal-record.js";
import type { JournalSlice } from "../src/control/journal-slice.js";
import type { Link } from "../src/control/link.js";

const log = pino({ level: "silent" });

/** A fake link and ports that record what a module does with them. */
function fakePorts(connected = true) {
  const sent: { t: string; b: unknown }[] = [];
  const committed: JournalRecord[][] = [];
  const later: JournalRecord[] = [];
  const stored: string[] = [];
  const states = new Map<JournalSlice<any, any>, unknown>([[execJournal, execJournal.init()]]);
  let mid = 0;
  const link: Link = {
    connected,
    sendNow: (t, b) => {
      if (connected) sent.push({ t, b });
      return connected;
    },
    outgoing: (t, b): OutRecord => ({ k: "out", mid: ++mid, t, b }),
    commit: async (recs) => {
      committed.push(recs);
    },
    sendDurable: async (t, b) => {
      committed.push([{ k: "out", mid: ++mid, t, b }]);
    },
  };
  const ports: CapabilityPorts = {
    link,
    journal: {
      state: <S>(s: JournalSlice<any, S>) => {
        if (!states.has(s)) throw new Error(`no slice ${s.key}`);
        return states.get(s) as S;
      },
      later: (recs) => later.push(...recs),
    },
    secrets: { storeNext: (p) => stored.push(p) },
    log,
  };
  return { ports, sent, committed, later, stored, execs: states.get(execJournal) as Map<string, unknown> };
}

test("the module list plus the transport handle every downstream type exactly once", () => {
  const seen = new Map<string, string>(CORE_DOWN_TYPES.map((t) => [t, "core"]));
  for (const m of capabilities) {
    for (const t of Object.keys(m.handlers)) {
      assert.equal(seen.get(t), undefined, `${t} handled by ${seen.get(t)} and ${m.name}`);
      seen.set(t, m.name);
    }
  }
  assert.deepEqual([...seen.keys()].sort(), Object.keys(DownMessages).sort());
  assert.deepEqual(Object.keys(coreHandlers({ later() {} } as never)), [...CORE_DOWN_TYPES]);

  const { ports } = fakePorts();
  const host = hostCapabilities(capabilities, ports);
  try {
    const merged = { ...coreHandlers({ later() {} } as never), ...host.handlers };
    for (const t of Object.keys(DownMessages)) assert.equal(typeof merged[t as DownType], "function", t);
    assert.equal(Object.keys(merged).length, Object.keys(DownMessages).length);
  } finally {
    host.onStopping();
  }
});

test("a module handling a type twice, or none handling one, is refused when hosted", () => {
  const { ports } = fakePorts();
  const dup: AnyCapability = { name: "dup", create: () => null, handlers: { echo: () => [] } };
  assert.throws(
    () => hostCapabilities([ping, credential, dup], ports),
    /echo is handled by both ping and dup/,
  );
  const core: AnyCapability = { name: "sneaky", create: () => null, handlers: { ack: () => undefined } };
  assert.throws(
    () => hostCapabilities([ping, credential, core], ports),
    /ack is handled by both the transport/,
  );
  assert.throws(
    () => hostCapabilities([ping, credential], ports),
    /no handler for downstream type\(s\) exec\.start/,
  );
});

test("durability comes from the protocol registry, not from the modules", () => {
  const durable = Object.keys(DownMessages).filter((t) => isDurableDown(t as DownType));
  assert.deepEqual(durable.sort(), [
    "config.apply",
    "credential.rotate",
    "echo",
    "exec.cancel",
    "exec.start",
    "telemetry.token",
  ]);
  for (const m of capabilities) assert.ok(!("durable" in m.handlers), m.name);
});

test("ping: `ping` answers `pong` through the link now; `echo` returns a durable `echo.reply` record", async () => {
  const f = fakePorts();
  const host = hostCapabilities(capabilities, f.ports);
  try {
    assert.equal(await host.handlers.ping({ ref: 7 }), undefined);
    assert.deepEqual(f.sent, [{ t: "pong", b: { ref: 7 } }]);
    const res = await host.handlers.echo({ ref: "r", data: "hi" });
    assert.deepEqual(res, [{ k: "out", mid: 1, t: "echo.reply", b: { ref: "r", data: "hi" } }]);
    assert.deepEqual(f.committed, [], "the transport commits a durable handler's records with its seen mark");
  } finally {
    host.onStopping();
  }
});

test("credential: `credential.rotate` hands the secret to the broker-secret port before returning", async () => {
  const f = fakePorts();
  const host = hostCapabilities(capabilities, f.ports);
  try {
    const password = "a".repeat(43);
    assert.deepEqual(await host.handlers["credential.rotate"]({ password }), []);
    assert.deepEqual(f.stored, [password]);
  } finally {
    host.onStopping();
  }
});

test("exec: start reports a command left running by a crash as lost, through link.commit", async () => {
  const f = fakePorts(false);
  execJournal.apply(f.execs as never, execStarted("cmd_lostlostlostlostlost") as never);
  const host = hostCapabilities(capabilities, f.ports, { exec: { retransmitMs: 60_000 } });
  try {
    host.start();
    assert.equal(f.committed.length, 1);
    const [done, out] = f.committed[0] as [JournalRecord, OutRecord];
    assert.deepEqual(done, { k: "exec", id: "cmd_lostlostlostlostlost", st: "done" });
    assert.equal(out.k, "out");
    assert.equal(out.t, "exec.result");
    assert.equal((out.b as { status: string }).status, "lost");
  } finally {
    host.onStopping();
  }
});

test("exec: a cancel for an unknown command records it done with a durable `cancelled` result", async () => {
  const f = fakePorts();
  const host = hostCapabilities(capabilities, f.ports);
  try {
    const res = await host.handlers["exec.cancel"]({ cmd: "cmd_neverseenneverseenn" });
    assert.ok(Array.isArray(res));
    assert.deepEqual(res[0], { k: "exec", id: "cmd_neverseenneverseenn", st: "done" });
    assert.equal((res[1] as OutRecord).t, "exec.result");
    assert.equal(((res[1] as OutRecord).b as { status: string }).status, "cancelled");
    // an exec.ack for a command not running is ignored
    assert.equal(await host.handlers["exec.ack"]({ cmd: "cmd_neverseenneverseenn", o: 0, e: 0 }), undefined);
  } finally {
    host.onStopping();
  }
});

test("lifecycle hooks run in list order; options and settings go to the module of that name", () => {
  const calls: string[] = [];
  const mk = (name: string, handles: string): AnyCapability => ({
    name,
    create: (_ports, options) => {
      calls.push(`${name}.create ${JSON.stringify(options)}`);
      return name;
    },
    handlers: { [handles]: () => undefined },
    start: (rt) => void calls.push(`${rt}.start`),
    onConnected: (rt) => void calls.push(`${rt}.connected`),
    onStopping: (rt) => void calls.push(`${rt}.stopping`),
    applySettings: (rt, s) => void calls.push(`${rt}.settings ${JSON.stringify(s)}`),
  });
  const { ports } = fakePorts();
  const rest = Object.keys(DownMessages).filter((t) => t !== "ack" && t !== "ping");
  const a = mk("a", "ping");
  const b: AnyCapability = {
    ...mk("b", "x"),
    handlers: Object.fromEntries(rest.map((t) => [t, () => undefined])),
  };
  const host = hostCapabilities([a, b], ports, { b: { n: 1 }, other: 2 });
  host.start();
  host.onConnected();
  host.applySettings({ a: { level: "debug" } });
  host.onStopping();
  assert.deepEqual(calls, [
    "a.create undefined",
    'b.create {"n":1}',
    "a.start",
    "b.start",
    "a.connected",
    "b.connected",
    'a.settings {"level":"debug"}',
    "a.stopping",
    "b.stopping",
  ]);
});
