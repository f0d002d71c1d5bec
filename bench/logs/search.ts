/**
 * The search row of bench:logs: a server's telemetry database filled with `lines` lines
 * (./fill.ts, the log store's own ingest, before the measured server starts; RARE_TERM in 1
 * line of 10⁶, COMMON_TERM in 1 of 100, receipt times over the last 20 h), then a server in
 * its own process answers GET /api/v1/logs?q=<term>&limit=100 (newest 100, default window
 * 24 h) for each term, interleaved with GET /healthz (the anchor), `iterations` rounds after 3
 * warm-up rounds, over HTTPS keep-alive with the admin token. Each answer is checked: the
 * rare term finds all its lines (lines / 10⁶), the common one a full page, every line holds the
 * term, newest first.
 */
import { join } from "node:path";
import { progress, ROOT, spawnChild, summarize } from "../lib/util.js";
import { makeApi } from "../telemetry/http.js";
import { COMMON_EVERY, COMMON_TERM, RARE_EVERY, RARE_TERM } from "./lines.js";

export interface SearchOptions {
  tmpRoot: string;
  lines: number;
  devices: number;
  iterations: number;
  config: Record<string, unknown>;
}

export interface SearchResult {
  lines: number;
  fill: { ms: number; rate: number };
  rare: ReturnType<typeof summarize> & { found: number; expected: number; partial: boolean };
  common: ReturnType<typeof summarize> & { found: number; expected: number; partial: boolean };
  health: ReturnType<typeof summarize>;
}

export async function searchRun(o: SearchOptions): Promise<SearchResult> {
  const dataDir = join(o.tmpRoot, "search-server");
  const child = (name: string, devices: number) =>
    spawnChild(name, join(ROOT, "bench/telemetry/server-child.ts"), [
      JSON.stringify({
        dataDir,
        devices,
        tokensFile: join(o.tmpRoot, "search-tokens.json"),
        config: o.config,
      }),
    ]);
  progress(`search: creating ${o.devices} devices (a server child, stopped before the fill)`);
  const first = child("search-setup", o.devices);
  try {
    await first.wait((e) => e.ev === "ready", "server ready", 300_000);
  } finally {
    await first.stop();
  }

  progress(
    `search: filling ${o.lines.toLocaleString("en-US")} lines through the log store's ingest (not timed)`,
  );
  const fill = spawnChild("fill", join(ROOT, "bench/logs/fill.ts"), [
    JSON.stringify({
      dataDir,
      lines: o.lines,
      perBatch: 5000,
      perTx: 20,
      spanMs: 20 * 3_600_000,
      config: o.config,
    }),
  ]);
  fill.on((e) => {
    if (e.ev === "progress")
      progress(
        `search: fill ${e.done.toLocaleString("en-US")}/${e.of.toLocaleString("en-US")} lines, ${e.elapsedS.toFixed(0)} s (${Math.round(e.done / e.elapsedS)} lines/s)`,
      );
  });
  let filled: any;
  try {
    filled = await fill.wait((e) => e.ev === "done", "fill", 6 * 3_600_000);
  } finally {
    await fill.stop();
  }
  progress(`search: filled in ${(filled.ms / 1000).toFixed(0)} s (${Math.round(filled.rate)} lines/s)`);

  const server = child("search-server", 0);
  try {
    const ready = await server.wait((e) => e.ev === "ready", "server ready", 300_000);
    const api = makeApi(ready.url, ready.ca, ready.adminToken);
    try {
      const expected = {
        rare: Math.max(0, Math.floor((o.lines - 777_777 - 1) / RARE_EVERY) + 1),
        common: Math.min(100, Math.floor((o.lines - 37 - 1) / COMMON_EVERY) + 1),
      };
      // Every line holds the term, newest first; how many were found (the fewest of any round).
      const check = (term: string, body: any) => {
        const lines: any[] = body.lines;
        for (let i = 0; i < lines.length; i++) {
          if (!lines[i].message.includes(term))
            throw new Error(`search for ${term} returned: ${lines[i].message}`);
          if (i > 0 && Number(lines[i].id) >= Number(lines[i - 1].id))
            throw new Error(`search for ${term}: not newest first`);
        }
        return lines.length;
      };
      const times = { rare: [] as number[], common: [] as number[], health: [] as number[] };
      const found = { rare: Number.POSITIVE_INFINITY, common: Number.POSITIVE_INFINITY };
      const partial = { rare: false, common: false };
      for (let i = 0; i < o.iterations + 3; i++) {
        const a = await api.get(`/api/v1/logs?q=${RARE_TERM}&limit=100`);
        const b = await api.get(`/api/v1/logs?q=${COMMON_TERM}&limit=100`);
        const h = await api.get("/healthz");
        if (a.status !== 200 || b.status !== 200 || h.status !== 200)
          throw new Error(
            `a timed request failed: ${a.status} ${JSON.stringify(a.body).slice(0, 200)} / ${b.status} ${JSON.stringify(b.body).slice(0, 200)} / ${h.status}`,
          );
        found.rare = Math.min(found.rare, check(RARE_TERM, a.body));
        found.common = Math.min(found.common, check(COMMON_TERM, b.body));
        // A rare term's walk ends at the first line (next null) unless the server's time budget cut it.
        if (a.body.next !== null) partial.rare = true;
        if (b.body.lines.length < expected.common) partial.common = true;
        if (i === 0)
          progress(
            `search: rare "${RARE_TERM}" ${a.body.lines.length}/${expected.rare} lines in ${a.ms.toFixed(0)} ms, common "${COMMON_TERM}" ${b.body.lines.length} in ${b.ms.toFixed(0)} ms (first, cold); ${o.iterations} timed rounds`,
          );
        if (i < 3) continue;
        times.rare.push(a.ms);
        times.common.push(b.ms);
        times.health.push(h.ms);
      }
      return {
        lines: o.lines,
        fill: { ms: filled.ms, rate: filled.rate },
        rare: { ...summarize(times.rare), found: found.rare, expected: expected.rare, partial: partial.rare },
        common: {
          ...summarize(times.common),
          found: found.common,
          expected: expected.common,
          partial: partial.common,
        },
        health: summarize(times.health),
      };
    } finally {
      api.close();
    }
  } finally {
    await server.stop();
  }
}
