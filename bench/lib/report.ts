/** The table, notes and results file of a benchmark run (bench:telemetry, bench:logs). */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { progress, ROOT } from "./util.js";

export const fmt = (v: number | null | undefined, d = 2) =>
  v === null || v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(d);
export const fmtInt = (v: number | null | undefined) =>
  v === null || v === undefined || !Number.isFinite(v) ? "n/a" : Math.round(v).toLocaleString("en-US");

/** Rows of (row, figure, anchor, ratio, goal, met?), failures by row, and the run's clock and load. */
export class Report {
  readonly rows: string[][] = [];
  readonly failures: Record<string, string> = {};
  private readonly t0 = Date.now();
  private readonly load0 = loadavg()[0]!;

  row(
    name: string,
    fig: string,
    anchor: string,
    ratio: number | null,
    goal: string,
    met: boolean | null,
  ): void {
    this.rows.push([
      name,
      fig,
      anchor,
      ratio === null || !Number.isFinite(ratio) ? "" : `${fmt(ratio)}×`,
      goal,
      met === null ? "" : met ? "yes" : "NO",
    ]);
  }

  missing(name: string, why: string): void {
    this.rows.push([name, "not measured", why, "", "", ""]);
  }

  /** Runs one row; a failure is recorded (and printed) instead of thrown. */
  async attempt<T>(name: string, fn: () => Promise<T>, keep = 2000): Promise<T | null> {
    try {
      return await fn();
    } catch (err) {
      this.failures[name] = String((err as Error)?.message ?? err).slice(0, keep);
      progress(`${name}: FAILED: ${this.failures[name]}`);
      return null;
    }
  }

  /**
   * Prints the table and the notes (with the machine line and the failures) on stdout and
   * writes bench/results/<name>.json: `results` plus the rows, failures and total seconds.
   */
  finish(name: string, notes: string[], results: Record<string, any>, quick: boolean): void {
    const header = ["row", "figure", "anchor", "ratio", "goal", "met?"];
    const table = [
      `| ${header.join(" | ")} |`,
      `| ${header.map(() => "---").join(" | ")} |`,
      ...this.rows.map((c) => `| ${c.join(" | ")} |`),
    ];
    const seconds = (Date.now() - this.t0) / 1000;
    const all = [
      "",
      ...notes.filter(Boolean),
      `machine: ${cpus().length} cores, load average ${fmt(this.load0)} before, ${fmt(loadavg()[0])} after; ${seconds.toFixed(0)} s in all${quick ? "; --quick" : ""}.`,
      ...Object.entries(this.failures).map(([k, v]) => `FAILED ${k}: ${v.split("\n")[0]}`),
    ];
    results.rows = this.rows.map(([row, figure, anchor, ratio, goal, met]) => ({
      name: row,
      figure,
      anchor,
      ratio,
      goal,
      met,
    }));
    results.failures = this.failures;
    results.totalSeconds = seconds;
    mkdirSync(join(ROOT, "bench/results"), { recursive: true });
    writeFileSync(join(ROOT, `bench/results/${name}.json`), `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`${table.join("\n")}\n${all.join("\n")}\n`);
    progress(`done in ${seconds.toFixed(0)} s; wrote bench/results/${name}.json`);
  }
}
