/**
 * Envelope and message validation (docs/protocol.md §7): decodeUp (the server reads what a
 * device sent) and decodeDown (the agent reads what the server sent), on decrypted payloads.
 * Contract: a SyntaxError (not JSON) or a plain Error naming the problem — never a TypeError.
 */
import {
  DownMessages,
  decodeDown,
  decodeUp,
  encodeMessage,
  isDurableDown,
  isDurableUp,
  UpMessages,
} from "@tether/protocol";
import { Value } from "typebox/value";
import type { Target } from "../lib.js";

/** One valid message of every type, made from its schema (TypeBox Value.Create), plus hand-made ones. */
function examples(): Buffer[] {
  const out: Buffer[] = [];
  for (const [dir, table] of [
    ["up", UpMessages],
    ["down", DownMessages],
  ] as const) {
    for (const [t, spec] of Object.entries(table)) {
      let b: unknown;
      try {
        b = Value.Create((spec as { body: any }).body);
      } catch {
        continue;
      }
      const durable = dir === "up" ? isDurableUp(t as any) : isDurableDown(t as any);
      const m = encodeMessage({ t, ...(durable ? { mid: 1 } : {}), b } as any);
      try {
        (dir === "up" ? decodeUp : decodeDown)(m);
        out.push(m);
      } catch {
        // Value.Create cannot satisfy every pattern; the hand-made ones below cover those.
      }
    }
  }
  const cmd = "cmd_0123456789abcdefghij";
  const connId = "0123456789abcdef0123456789abcdef";
  const facts = {
    os: "linux",
    osRelease: "6.1",
    kernel: "6.1.0",
    arch: "arm64",
    hostname: "robot-7",
    addresses: ["10.0.0.7"],
    cpus: 4,
    memoryBytes: 1 << 30,
    agentVersion: "0.1.0",
  };
  out.push(
    encodeMessage({ t: "hello", b: { connId, agentVersion: "0.1.0", facts } }),
    encodeMessage({ t: "bye", b: { connId } }),
    encodeMessage({ t: "exec.started", b: { cmd, pid: 4242 } }),
    encodeMessage({ t: "exec.output", b: { cmd, s: "o", off: 0, d: "aGVsbG8K" } }),
    encodeMessage({
      t: "exec.result",
      mid: 9,
      b: {
        cmd,
        status: "exited",
        code: 0,
        signal: null,
        error: null,
        durationMs: 12,
        o: { kept: 6, total: 6 },
        e: { kept: 0, total: 0 },
        ot: { off: 0, d: "aGVsbG8K" },
      },
    }),
    encodeMessage({
      t: "exec.start",
      mid: 3,
      b: {
        cmd,
        argv: ["uptime"],
        shell: false,
        env: { A: "1" },
        timeoutMs: 60000,
        limit: 1048576,
        stdin: "",
      },
    }),
    encodeMessage({ t: "exec.cancel", mid: 4, b: { cmd } }),
    encodeMessage({ t: "exec.ack", b: { cmd, o: 6, e: 0, resend: true } }),
    encodeMessage({ t: "credential.rotate", mid: 5, b: { password: "A".repeat(43) } }),
    encodeMessage({ t: "pong", b: { ref: 3 } }),
    encodeMessage({ t: "ping", b: { ref: 3 } }),
    encodeMessage({ t: "ack", b: { mids: [1, 2, 3] } }),
  );
  return out;
}

export const messages: Target = {
  name: "messages",
  what: "decodeUp, decodeDown (envelope + every message schema)",
  seeds: examples,
  dictionary: [
    ...Object.keys(UpMessages).map((t) => `"${t}"`),
    ...Object.keys(DownMessages).map((t) => `"${t}"`),
    '"constructor"',
    '"__proto__"',
    '"toString"',
    '"hasOwnProperty"',
    '"mid":1,',
    '"t":',
    '"b":',
    "null",
    "1e400",
    "-0",
    "[]",
    "{}",
    '"\\u0000"',
  ],
  run(input) {
    for (const decode of [decodeUp, decodeDown]) {
      try {
        decode(input);
      } catch (err) {
        if (!isContractError(err)) throw err;
      }
    }
  },
  expected: isContractError,
};

function isContractError(err: unknown): boolean {
  return err instanceof SyntaxError || (err instanceof Error && err.constructor === Error);
}
