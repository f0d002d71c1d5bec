/**
 * `GET /api/v1/logs` (docs/protocol.md §15): a LogQuery inside the caller's project → a page
 * of LogLines, newest first (by id: the order lines were stored), with a cursor.
 */
import type { LogQuery, LogSearchResult } from "@tether/protocol";
import { TetherError } from "@tether/protocol";
import type { Principal } from "../../accounts.js";
import type { Devices } from "../../devices.js";
import { resolveScope } from "../../query/scope.js";
import { parseTime } from "../../query/time-range.js";
import { type LogFilter, type LogStore, rowToStored } from "./store.js";
import { parseTerms } from "./terms.js";
import { toLogLine } from "./tail.js";

export const DEFAULT_SEARCH_MS = 86_400_000;
export const DEFAULT_LIMIT = 100;
/** A search walks at most this long, then answers what it found with a cursor to go on. */
export const SEARCH_BUDGET_MS = 2000;

export interface SearchDeps {
  devices: Devices;
  store: LogStore;
  names(ids: string[]): Promise<Map<string, string>>;
  now(): number;
}

const bad = (m: string) => new TetherError("TETHER_ERR_BAD_REQUEST", m);

/** A line-id cursor (`before`, `after`, Last-Event-ID). */
export function parseCursor(s: string | undefined, what: string): number | undefined {
  if (s === undefined || s === "") return undefined;
  if (!/^\d{1,15}$/.test(s))
    throw bad(
      `${what} ${JSON.stringify(s.slice(0, 64))} is not a line id (the id of a line, or the next of a previous page)`,
    );
  return Number(s);
}

/** The filters every log request shares: devices (ids, names), source or unit, level. */
export async function resolveFilter(
  d: Pick<SearchDeps, "devices">,
  p: Principal,
  q: Pick<LogQuery, "device" | "selector" | "source" | "level">,
): Promise<{ filter: LogFilter; names: Map<string, string> | undefined }> {
  let deviceIds: string[] | undefined;
  let names: Map<string, string> | undefined;
  if (q.device !== undefined || q.selector !== undefined) {
    const scope = await resolveScope(d.devices, p, q);
    if (scope.ids.length === 0)
      throw new TetherError(
        "TETHER_ERR_NO_DEVICES_MATCH",
        `no device matches the selector ${q.selector ?? ""}`,
      );
    deviceIds = scope.ids;
    names = new Map(scope.rows.map((r) => [r.id, r.name]));
  }
  const filter: LogFilter = { projectId: p.projectId, deviceIds, minLevel: q.level };
  if (q.source !== undefined) {
    if (q.source.startsWith("unit:")) filter.unit = q.source.slice(5);
    else filter.source = q.source;
  }
  return { filter, names };
}

export async function searchLogs(d: SearchDeps, p: Principal, q: LogQuery): Promise<LogSearchResult> {
  const now = d.now();
  const until = q.until ? parseTime(q.until, now, "until") : undefined;
  const since = q.since ? parseTime(q.since, now, "since") : (until ?? now) - DEFAULT_SEARCH_MS;
  if (until !== undefined && since >= until) throw bad("since must be before until");
  const before = parseCursor(q.before, "before");
  const { filter, names: known } = await resolveFilter(d, p, q);
  const terms = q.q !== undefined && q.q.trim() !== "" ? parseTerms(q.q) : undefined;
  const page = await d.store.page({
    ...filter,
    since,
    until,
    terms,
    before,
    limit: Math.min(q.limit ?? DEFAULT_LIMIT, 1000),
    budgetMs: SEARCH_BUDGET_MS,
  });
  const missing = [...new Set(page.rows.map((r) => r.device_id))].filter((id) => !known?.has(id));
  const looked = missing.length ? await d.names(missing) : new Map<string, string>();
  const name = (id: string) => known?.get(id) ?? looked.get(id) ?? id;
  return {
    lines: page.rows.map((r) => toLogLine(rowToStored(r, name(r.device_id)))),
    next: page.next === null ? null : String(page.next),
  };
}
