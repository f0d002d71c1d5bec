/**
 * The fleet's logs: a search over every device's lines (words, a device or a selector, level,
 * source, time range), newest first, "Load older" for the next page, each line with its
 * device's name linking to the device's page. The search lives in the URL
 * (`#/logs?q=timeout&selector=site%3Dlab&level=warn&range=6h`) so it can be shared.
 */
import { parseSelector } from "@tether/sdk";
import { type FormEvent, useEffect, useState } from "react";
import { ErrorNotice, useAction, useHashQuery, useNow, usePoll } from "../../ui";
import { type LogLevel, type LogLine, type LogQuery, searchLogs } from "./api";
import { LEVEL_CHOICES, LogRow } from "./lines";

const RANGES = [
  { id: "15m", label: "last 15 minutes" },
  { id: "1h", label: "last hour" },
  { id: "6h", label: "last 6 hours" },
  { id: "24h", label: "last 24 hours" },
  { id: "7d", label: "last 7 days" },
  { id: "30d", label: "last 30 days" },
  { id: "custom", label: "between…" },
] as const;
const DEFAULT_RANGE = "24h";
const PAGE = 100;

/** "2026-11-30T10:02" (datetime-local, local time) → ISO; "" when empty or invalid. */
function localToIso(v: string): string {
  if (!v) return "";
  const t = new Date(v).getTime();
  return Number.isNaN(t) ? "" : new Date(t).toISOString();
}

export function LogsPage() {
  const [hq, setQuery] = useHashQuery();
  const applied = {
    q: hq.get("q") ?? "",
    device: hq.get("device") ?? "",
    selector: hq.get("selector") ?? "",
    level: (LEVEL_CHOICES as readonly string[]).includes(hq.get("level") ?? "")
      ? (hq.get("level") as LogLevel)
      : "",
    source: hq.get("source") ?? "",
    range: RANGES.some((r) => r.id === hq.get("range")) ? (hq.get("range") as string) : DEFAULT_RANGE,
    from: hq.get("from") ?? "",
    to: hq.get("to") ?? "",
  };
  const key = JSON.stringify(applied);
  const now = useNow(30_000);

  const query = (): LogQuery => ({
    ...(applied.q ? { q: applied.q } : {}),
    ...(applied.device ? { device: applied.device } : {}),
    ...(applied.selector ? { selector: applied.selector } : {}),
    ...(applied.level ? { level: applied.level as LogLevel } : {}),
    ...(applied.source ? { source: applied.source } : {}),
    ...(applied.range === "custom"
      ? {
          ...(localToIso(applied.from) ? { since: localToIso(applied.from) } : {}),
          ...(localToIso(applied.to) ? { until: localToIso(applied.to) } : {}),
        }
      : { since: applied.range }),
    limit: PAGE,
  });

  const first = usePoll(
    async () => {
      if (applied.selector) parseSelector(applied.selector); // explained before any request
      return searchLogs(query());
    },
    null,
    [key],
  );
  // Older pages, appended under the first one.
  const [more, setMore] = useState<{ lines: LogLine[]; next: string | null; loaded: boolean }>({
    lines: [],
    next: null,
    loaded: false,
  });
  const older = useAction();
  // biome-ignore lint/correctness/useExhaustiveDependencies: key is the search's identity
  useEffect(() => {
    setMore({ lines: [], next: null, loaded: false });
    older.setError(null);
  }, [key, older.setError]);
  const lines = first.data ? first.data.lines.concat(more.lines) : [];
  const next = more.loaded ? more.next : (first.data?.next ?? null);

  return (
    <section className="logs-page">
      <header className="page-head">
        <h1>Logs</h1>
        {first.data && (
          <span className="summary">
            {lines.length === 0
              ? "no lines"
              : `${lines.length.toLocaleString("en-US")} ${lines.length === 1 ? "line" : "lines"}${next ? " so far, newest first" : ", newest first"}`}
          </span>
        )}
      </header>

      <SearchForm key={key} applied={applied} onApply={(v) => setQuery(v)} />

      <ErrorNotice error={first.failure} onRetry={() => void first.reload()} />
      {!first.data && !first.failure && <p className="muted">Searching…</p>}

      {first.data && lines.length === 0 && (
        <p className="empty">
          No lines match this search. Try fewer words, a longer time range or a lower level; devices send
          their logs over the telemetry channel from the files their agents follow.
        </p>
      )}

      {lines.length > 0 && (
        <div className="log-view log-results" role="log" aria-label="Search results">
          {lines.map((l) => (
            <LogRow
              key={l.id}
              line={l}
              now={now}
              device={<a href={`#/devices/${encodeURIComponent(l.deviceId)}`}>{l.device}</a>}
            />
          ))}
        </div>
      )}
      {lines.length > 0 && (
        <div className="list-foot">
          {next ? (
            <button
              type="button"
              disabled={older.busy}
              onClick={() =>
                void older.run(async () => {
                  const page = await searchLogs({ ...query(), before: next });
                  const have = new Set(lines.map((l) => l.id));
                  setMore((m) => ({
                    lines: m.lines.concat(page.lines.filter((l) => !have.has(l.id))),
                    next: page.next,
                    loaded: true,
                  }));
                })
              }
            >
              {older.busy ? "Loading…" : "Load older"}
            </button>
          ) : (
            <span className="muted">That is every matching line in this time range.</span>
          )}
          <ErrorNotice error={older.error} compact />
        </div>
      )}
    </section>
  );
}

type Applied = {
  q: string;
  device: string;
  selector: string;
  level: string;
  source: string;
  range: string;
  from: string;
  to: string;
};

function SearchForm({
  applied,
  onApply,
}: {
  applied: Applied;
  onApply: (v: Record<string, string | null>) => void;
}) {
  const [v, setV] = useState(applied);
  const set = (k: keyof Applied) => (e: { target: { value: string } }) => setV({ ...v, [k]: e.target.value });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const t = (s: string) => s.trim() || null;
    onApply({
      q: t(v.q),
      device: t(v.device),
      selector: t(v.selector),
      level: v.level || null,
      source: t(v.source),
      range: v.range === DEFAULT_RANGE ? null : v.range,
      from: v.range === "custom" ? t(v.from) : null,
      to: v.range === "custom" ? t(v.to) : null,
    });
  };
  return (
    <form className="card logs-form" onSubmit={submit} aria-label="Search logs">
      <label className="grow">
        <span>Words</span>
        <input
          name="q"
          placeholder='e.g. timeout, or "motor stalled"'
          maxLength={512}
          value={v.q}
          onChange={set("q")}
        />
      </label>
      <label>
        <span>Device</span>
        <input name="device" placeholder="name" maxLength={128} value={v.device} onChange={set("device")} />
      </label>
      <label>
        <span>Selector</span>
        <input
          name="selector"
          placeholder="e.g. site=lab"
          maxLength={512}
          value={v.selector}
          onChange={set("selector")}
        />
      </label>
      <label>
        <span>Level</span>
        <select name="level" value={v.level} onChange={set("level")}>
          <option value="">any</option>
          {LEVEL_CHOICES.map((l) => (
            <option key={l} value={l}>
              {l} and above
            </option>
          ))}
        </select>
      </label>
      <label>
        <span>Source</span>
        <input
          name="source"
          placeholder="path, journal, agent, unit:NAME"
          maxLength={512}
          value={v.source}
          onChange={set("source")}
        />
      </label>
      <label>
        <span>Time</span>
        <select name="range" value={v.range} onChange={set("range")}>
          {RANGES.map((r) => (
            <option key={r.id} value={r.id}>
              {r.label}
            </option>
          ))}
        </select>
      </label>
      {v.range === "custom" && (
        <>
          <label>
            <span>From</span>
            <input type="datetime-local" name="from" value={v.from} onChange={set("from")} />
          </label>
          <label>
            <span>To</span>
            <input type="datetime-local" name="to" value={v.to} onChange={set("to")} />
          </label>
        </>
      )}
      <div className="buttons">
        <button type="submit" className="primary">
          Search
        </button>
      </div>
    </form>
  );
}
