/**
 * `npm run fuzz`: every target (fuzz/targets/) for at least 10^6 executions over its stored
 * corpus (fuzz/corpus/<name>/) and mutations of it; prints target, executions, crashes,
 * time. A crashing input is saved to the corpus as crash-<hash> (keep it there once fixed).
 *
 *   npm run fuzz                          all targets, 10^6 executions each
 *   npm run fuzz -- --runs 20000 frames   fewer executions, one target
 *   npm run fuzz -- --seed                (re)write the seed inputs from the protocol's encoders
 */
import { fuzz, type Outcome, saveToCorpus } from "./lib.js";
import { TARGETS } from "./targets/index.js";

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const runs = Number(flag("--runs") ?? 1_000_000);
const seedArg = flag("--rng-seed");
const writeSeeds = args.includes("--seed");
const names = args.filter((a) => !a.startsWith("--"));
const targets = names.length ? TARGETS.filter((t) => names.includes(t.name)) : TARGETS;
if (names.length && targets.length !== names.length) {
  console.error(`unknown target; targets: ${TARGETS.map((t) => t.name).join(", ")}`);
  process.exit(2);
}

if (writeSeeds) {
  for (const t of targets) {
    const seeds = await t.seeds();
    for (const s of seeds) saveToCorpus(t.name, s, "seed");
    console.log(`${t.name}: ${seeds.length} seed inputs`);
  }
  process.exit(0);
}

const results: Outcome[] = [];
for (const t of targets) {
  process.stderr.write(`fuzz: ${t.name} (${t.what}), ${runs} executions...\n`);
  const r = await fuzz(t, { numRuns: runs, seed: seedArg ? Number(seedArg) : undefined, save: true });
  results.push(r);
  for (const f of r.found)
    process.stderr.write(
      `  CRASH ${f.error}${f.detail ? `\n    detail: ${f.detail}` : ""}${f.file ? `\n    input: ${f.file}` : ""}\n`,
    );
}

const rows = [
  ["target", "executions", "crashes", "time"],
  ...results.map((r) => [r.target, String(r.executions), String(r.crashes), `${(r.ms / 1000).toFixed(1)} s`]),
];
const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const [i, r] of rows.entries()) {
  console.log(r.map((c, j) => (j === 0 ? c.padEnd(w[j]) : c.padStart(w[j]))).join("  "));
  if (i === 0) console.log(w.map((n) => "-".repeat(n)).join("  "));
}
const crashed = results.some((r) => r.crashes > 0);
process.exit(crashed ? 1 : 0);
