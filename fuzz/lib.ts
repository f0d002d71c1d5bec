/**
 * Fuzzing with fast-check (issue 9, finding 13): every parser that takes bytes from outside
 * has a target (fuzz/targets/<name>.ts) with a stored corpus (fuzz/corpus/<name>/). Inputs
 * are corpus entries mutated by bit flips, byte overwrites, truncation, insertion, splicing
 * of two entries, dictionary tokens, and plain random bytes. A crash is an exception of a
 * type the parser does not throw by contract (a TypeError instead of its own error), or a
 * hang (one execution over HANG_MS).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";

export const FUZZ_DIR = new URL(".", import.meta.url).pathname;
/** One execution taking longer than this counts as a hang. */
export const HANG_MS = 2000;

export interface Target {
  name: string;
  /** What the parser is, for the table. */
  what: string;
  /** Seed inputs from the protocol's own encoders (written to the corpus by `fuzz/run.ts --seed`). */
  seeds(): Buffer[] | Promise<Buffer[]>;
  /**
   * Which corpus entries seed mutations (default: all). Every entry is replayed; a large one
   * that probes a size limit (a gzip bomb) would only slow the mutations down.
   */
  mutates?(input: Buffer): boolean;
  /** Interesting tokens spliced into inputs (field names, magic numbers). */
  dictionary?: string[];
  /** Set up shared state (a server, keys) before the first run. */
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  /** Run the parser once. Returning normally or throwing an expected error is fine. */
  run(input: Buffer): void | Promise<void>;
  /** Is this error the parser's own (by contract)? Anything else is a crash. */
  expected(err: unknown): boolean;
}

export function corpusDir(name: string): string {
  return join(FUZZ_DIR, "corpus", name);
}

/** The stored corpus of a target (every file in fuzz/corpus/<name>/), sorted by name. */
export function loadCorpus(name: string): Buffer[] {
  const dir = corpusDir(name);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => !f.startsWith("."))
    .sort()
    .map((f) => readFileSync(join(dir, f)));
}

/** Store an input in a target's corpus (named by its hash; `prefix` says where it came from). */
export function saveToCorpus(name: string, input: Buffer, prefix = "seed"): string {
  const dir = corpusDir(name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${prefix}-${createHash("sha256").update(input).digest("hex").slice(0, 16)}`);
  writeFileSync(file, input);
  return file;
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c];

type Op =
  | { k: "flip"; at: number; bit: number }
  | { k: "set"; at: number; v: number }
  | { k: "truncate"; at: number }
  | { k: "insert"; at: number; bytes: Uint8Array }
  | { k: "delete"; at: number; n: number }
  | { k: "splice"; at: number; other: number; from: number }
  | { k: "token"; at: number; token: number; replace: boolean };

function opArb(): fc.Arbitrary<Op> {
  const at = fc.nat();
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ k: fc.constant("flip" as const), at, bit: fc.nat(7) }) },
    {
      weight: 3,
      arbitrary: fc.record({
        k: fc.constant("set" as const),
        at,
        v: fc.oneof(fc.constantFrom(...INTERESTING), fc.nat(255)),
      }),
    },
    { weight: 1, arbitrary: fc.record({ k: fc.constant("truncate" as const), at }) },
    {
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant("insert" as const),
        at,
        bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ k: fc.constant("delete" as const), at, n: fc.integer({ min: 1, max: 16 }) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ k: fc.constant("splice" as const), at, other: fc.nat(), from: fc.nat() }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ k: fc.constant("token" as const), at, token: fc.nat(), replace: fc.boolean() }),
    },
  );
}

function apply(base: Buffer, ops: Op[], corpus: Buffer[], dict: Buffer[]): Buffer {
  let b = Buffer.from(base);
  for (const op of ops) {
    const at = b.length ? op.at % (b.length + 1) : 0;
    switch (op.k) {
      case "flip":
        if (b.length) b[at % b.length] ^= 1 << op.bit;
        break;
      case "set":
        if (b.length) b[at % b.length] = op.v;
        break;
      case "truncate":
        b = b.subarray(0, at);
        break;
      case "insert":
        b = Buffer.concat([b.subarray(0, at), op.bytes, b.subarray(at)]);
        break;
      case "delete":
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + op.n)]);
        break;
      case "splice": {
        const o = corpus[op.other % corpus.length];
        b = Buffer.concat([b.subarray(0, at), o.subarray(o.length ? op.from % o.length : 0)]);
        break;
      }
      case "token": {
        if (!dict.length) break;
        const t = dict[op.token % dict.length];
        b = Buffer.concat([b.subarray(0, at), t, b.subarray(op.replace ? at + t.length : at)]);
        break;
      }
    }
  }
  return b;
}

/** Inputs: a corpus entry as is, mutated (1-8 operations), or random bytes. */
export function inputs(corpus: Buffer[], dictionary: string[] = []): fc.Arbitrary<Buffer> {
  const dict = dictionary.map((s) => Buffer.from(s, "utf8"));
  const pool = corpus.length ? corpus : [Buffer.alloc(0)];
  return fc.oneof(
    { weight: 1, arbitrary: fc.nat().map((i) => pool[i % pool.length]) },
    {
      weight: 12,
      arbitrary: fc
        .tuple(fc.nat(), fc.array(opArb(), { minLength: 1, maxLength: 8 }))
        .map(([i, ops]) => apply(pool[i % pool.length], ops, pool, dict)),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((u) => Buffer.from(u)) },
  );
}

export interface Outcome {
  target: string;
  executions: number;
  crashes: number;
  ms: number;
  /** First crash of each kind: error, its cause (when the target gave one), and the file the input was saved to. */
  found: { error: string; detail?: string; file?: string }[];
}

/** What a crash was about (an error's cause), short. */
function describe(x: unknown): string {
  let s: string;
  try {
    s = typeof x === "string" ? JSON.stringify(x) : (JSON.stringify(x) ?? String(x));
  } catch {
    s = String(x);
  }
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

/** A stable key for a crash: its type and first stack frame. */
function crashKey(err: unknown): string {
  if (!(err instanceof Error)) return `non-error ${typeof err}`;
  const frame = (err.stack ?? "").split("\n").find((l) => l.trim().startsWith("at ")) ?? "";
  return `${err.constructor.name}: ${err.message.slice(0, 120)} ${frame.trim()}`;
}

/**
 * Run `numRuns` executions of a target over its corpus and report crashes. With `save`,
 * the first input of each new crash kind is stored in fuzz/corpus/<name>/ as crash-<hash>.
 */
export async function fuzz(
  t: Target,
  o: { numRuns: number; seed?: number; save?: boolean; replayCorpus?: boolean },
): Promise<Outcome> {
  const corpus = loadCorpus(t.name);
  const found = new Map<string, { error: string; detail?: string; file?: string }>();
  let executions = 0;
  let crashes = 0;
  const check = async (input: Buffer) => {
    executions++;
    const started = performance.now();
    try {
      await t.run(input);
    } catch (err) {
      if (!t.expected(err)) {
        crashes++;
        const key = crashKey(err);
        if (!found.has(key))
          found.set(key, {
            error: key,
            detail: err instanceof Error && err.cause !== undefined ? describe(err.cause) : undefined,
            file: o.save ? saveToCorpus(t.name, input, "crash") : undefined,
          });
      }
    }
    if (performance.now() - started > HANG_MS) {
      crashes++;
      const key = `hang over ${HANG_MS} ms`;
      if (!found.has(key))
        found.set(key, { error: key, file: o.save ? saveToCorpus(t.name, input, "hang") : undefined });
    }
    return true;
  };
  const started = performance.now();
  await t.setup?.();
  try {
    if (o.replayCorpus !== false) for (const c of corpus) await check(c);
    await fc.assert(
      fc.asyncProperty(inputs(t.mutates ? corpus.filter(t.mutates) : corpus, t.dictionary), (b) => check(b)),
      { numRuns: o.numRuns, seed: o.seed, endOnFailure: true },
    );
  } finally {
    await t.teardown?.();
  }
  return {
    target: t.name,
    executions,
    crashes,
    ms: Math.round(performance.now() - started),
    found: [...found.values()],
  };
}
