// @matrix: once
/**
 * The short fuzz pass CI runs (issue 9, finding 13): every stored corpus entry of every
 * target (fuzz/corpus/<name>/, seeds and inputs that once crashed) replayed, plus 2,000
 * mutations per target with a fixed seed. `npm run fuzz` is the long pass (10^6 each).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fuzz, loadCorpus } from "../../fuzz/lib.js";
import { TARGETS } from "../../fuzz/targets/index.js";

for (const t of TARGETS) {
  test(`fuzz target ${t.name}: corpus and 2,000 mutations, no crash`, async () => {
    assert.ok(loadCorpus(t.name).length > 0, `fuzz/corpus/${t.name}/ is empty`);
    const r = await fuzz(t, { numRuns: 2000, seed: 9, save: false });
    assert.equal(
      r.crashes,
      0,
      `${t.name}: ${r.found.map((f) => `${f.error}${f.detail ? ` (${f.detail})` : ""}`).join("\n")}`,
    );
  });
}
