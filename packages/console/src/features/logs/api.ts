/**
 * The logs routes (docs/protocol.md §15) over the console's one client (session cookie, the
 * project header): search (`GET /api/v1/logs`) and the live tail's URL for EventSource, which
 * cannot send headers and so names the project in the query, as the metrics stream does.
 */
import {
  LOG_SEARCH_PATH,
  LOG_STREAM_PATH,
  type LogLevel,
  type LogLine,
  type LogQuery,
  LogSearchResult,
} from "@tether/protocol/logs";
import { type Validator, validator } from "@tether/protocol/validate";
import { ApiError } from "@tether/sdk";
import { client } from "../../client";

let checkResult: Validator<LogSearchResult> | undefined;

/** A search page, newest first (`next`: the cursor of the older page, or null at the end). */
export async function searchLogs(q: LogQuery): Promise<LogSearchResult> {
  const json = await client.request<unknown>("GET", LOG_SEARCH_PATH, undefined, { ...q });
  checkResult ??= validator(LogSearchResult);
  try {
    return checkResult.parse(json);
  } catch (err) {
    throw new ApiError(
      502,
      "TETHER_ERR_HTTP",
      `GET ${LOG_SEARCH_PATH}: unexpected answer (${(err as Error).message})`,
    );
  }
}

/** The filters of a live tail (the LogQuery filters, no time range or paging). */
export interface TailFilters {
  device?: string;
  selector?: string;
  q?: string;
  source?: string;
  level?: LogLevel;
}

/** The live tail's URL; `after`: resume after this line id (its later lines are replayed first). */
export function tailUrl(f: TailFilters, after?: string | null): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v) p.set(k, v);
  if (after) p.set("after", after);
  if (client.project) p.set("project", client.project);
  const qs = p.toString();
  return `${LOG_STREAM_PATH}${qs ? `?${qs}` : ""}`;
}

export type { LogLevel, LogLine, LogQuery };
