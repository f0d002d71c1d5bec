// @matrix: once
/**
 * The README's claims, checked against the code: every `tether …` form in its code blocks
 * names commands that exist and options their `--help` lists; every `npm run X` is a script;
 * every repository path it names exists; "Coming next" names nothing the README documents
 * as built.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { run } from "../../packages/cli/src/cli.js";
import { fakeIo } from "../../packages/cli/test/in-process-cli.js";

const ROOT = new URL("../..", import.meta.url).pathname;
const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** The fenced code blocks' lines. */
function codeLines(md: string): string[] {
  const out: string[] = [];
  let inside = false;
  for (const line of md.split("\n")) {
    if (line.startsWith("```")) inside = !inside;
    else if (inside) out.push(line);
  }
  return out;
}

/** Run the CLI in-process; returns stdout+stderr and the exit code. */
async function cli(argv: string[]): Promise<{ code: number; out: string }> {
  const io = fakeIo({ TETHER_URL: "https://127.0.0.1:1", TETHER_TOKEN: "x" }, "/nonexistent");
  const code = await run(argv, io);
  return { code, out: io.text() };
}

const helpCache = new Map<string, Promise<{ code: number; out: string }>>();
const help = (path: string[]) => {
  const k = path.join(" ");
  if (!helpCache.has(k)) helpCache.set(k, cli([...path, "--help"]));
  return helpCache.get(k)!;
};

/** The subcommand names listed in a help text's "Commands:" section. */
function subcommands(helpText: string): Set<string> {
  const i = helpText.indexOf("\nCommands:");
  const names = new Set<string>();
  if (i < 0) return names;
  for (const line of helpText.slice(i + 11).split("\n")) {
    if (line.trim() === "") break;
    const m = /^ {2}([a-z][\w-]*)(?:\|([a-z][\w-]*))?/.exec(line);
    if (m) {
      names.add(m[1]);
      if (m[2]) names.add(m[2]);
    }
  }
  return names;
}

interface Form {
  line: string;
  words: string[];
}

/** Every `tether …` invocation in the README's code blocks, with the words that follow it. */
function forms(): Form[] {
  const out: Form[] = [];
  let last: Form | null = null;
  for (const raw of codeLines(README)) {
    // A continuation line of the "CLI at a glance" block (indented options) belongs to the form above.
    if (last && /^\s{6,}\[?--/.test(raw)) {
      last.words.push(...raw.trim().split(/\s+/));
      continue;
    }
    last = null;
    const line = raw.replace(/\s#.*$/, "");
    for (const m of line.matchAll(/(?:^|[\s;|(&])tether\s+([^;|#]*)/g)) {
      const words = m[1].trim().split(/\s+/).filter(Boolean);
      if (words.length === 0 || words[0].startsWith("(")) continue;
      last = { line: raw.trim(), words };
      out.push(last);
    }
  }
  return out;
}

test("every tether form in the README names real commands and options (checked with --help)", async () => {
  const all = forms();
  assert.ok(all.length > 40, `only ${all.length} tether forms found in the README`);
  for (const f of all) {
    // The command path: leading words that are subcommands ("a|b" lists alternatives).
    let paths: string[][] = [[]];
    let i = 0;
    for (; i < f.words.length; i++) {
      const alts = f.words[i].split("|");
      const next: string[][] = [];
      for (const p of paths) {
        const h = await help(p);
        const subs = subcommands(h.out);
        for (const a of alts) if (subs.has(a)) next.push([...p, a]);
      }
      if (next.length === 0) break;
      paths = next;
    }
    assert.ok(paths[0].length > 0, `README: \`${f.line}\`: "${f.words[0]}" is not a tether command`);
    const helps = await Promise.all(paths.map((p) => help(p)));
    for (const h of helps) assert.equal(h.code, 0, `README: \`${f.line}\`: --help failed:\n${h.out}`);
    // Options named before a standalone "--" (what follows it is the remote command).
    const rest = f.words.slice(i);
    const end = rest.indexOf("--");
    for (const w of end < 0 ? rest : rest.slice(0, end)) {
      for (const m of w.matchAll(/(?:^|[[(])(--[a-z][a-z0-9-]*)/g)) {
        const opt = m[1];
        if (opt === "--help") continue;
        assert.ok(
          helps.some((h) => new RegExp(`${opt}(?![a-z0-9-])`).test(h.out)),
          `README: \`${f.line}\`: ${opt} is not an option of \`tether ${paths.map((p) => p.join(" ")).join(" | ")}\``,
        );
      }
    }
  }
});

test("every `npm run X` in the README is a script of the root package.json", () => {
  const scripts = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts as Record<
    string,
    string
  >;
  const named = [...README.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]);
  assert.ok(named.length > 3);
  for (const n of named) assert.ok(n in scripts, `README names \`npm run ${n}\`, which package.json lacks`);
});

test("every repository path the README names exists", () => {
  const paths = new Set<string>();
  for (const m of README.matchAll(
    /`((?:docs|packaging|tests|tools|bench|packages|fuzz|\.ci)\/[^`\s<>…*]+)`/g,
  )) {
    const p = m[1].replace(/[/:,.]+$/, "");
    if (!p.startsWith("bench/results/")) paths.add(p); // written by the benchmarks when they run
  }
  assert.ok(paths.size > 5);
  for (const p of paths) assert.ok(existsSync(join(ROOT, p)), `README names ${p}, which does not exist`);
});

test('"Coming next" names nothing the README documents as built', () => {
  const m = /Coming next[^:]*:([^.]*)\./.exec(README);
  if (!m) return; // nothing announced
  const headings = [...README.matchAll(/^#{2,3} (.+)$/gm)].map((h) => h[1].toLowerCase());
  for (const item of m[1]
    .split(/,|\band\b/)
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)) {
    const key = item.split(/\s+/).at(-1)!;
    const hit = headings.find((h) => h.includes(key));
    assert.equal(hit, undefined, `"Coming next" announces "${item}", but the README documents "${hit}"`);
  }
});
