// A node:test reporter for tools/run-tests.mjs: one JSON line per finished test file with its
// wall time (as node:test measured it), and one per finished test with its outcome; the runner
// adds them up per file. Each line is written when its event arrives: --test-force-exit ends
// the process without draining the reporters, and with files running concurrently a file's own
// event may arrive before some of its tests' events.
// The runner adds it beside the spec reporter: --test-reporter=<this> --test-reporter-destination=FILE.
export default async function* durations(source) {
  for await (const e of source) {
    if (e.type !== "test:complete" || !e.data?.file) continue;
    const d = e.data;
    const ms = Math.round(d.details?.duration_ms ?? 0);
    // Node 20 closes each file with a test named by its path: the file's process, start to exit.
    if (d.nesting === 0 && d.name === d.file) {
      yield `${JSON.stringify({ file: d.file, ms, ok: d.details?.passed !== false })}\n`;
      continue;
    }
    const skipped = (d.skip !== undefined && d.skip !== false) || (d.todo !== undefined && d.todo !== false);
    const outcome = skipped ? "skip" : d.details?.passed === false ? "fail" : "pass";
    // Suites count only when skipped whole (their tests then report nothing).
    if (d.details?.type === "suite" && outcome === "pass") continue;
    yield `${JSON.stringify({ file: d.file, test: outcome, top: d.nesting === 0 ? ms : 0 })}\n`;
  }
}
