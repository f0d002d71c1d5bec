/**
 * The device page's Metrics section: CPU, memory, disk, network, temperature and battery charts
 * (those the device sends), one custom metric chosen in a picker, a time-range picker, refresh
 * every 10 s with the console's stale convention, gaps as gaps and the device's gap records
 * as shaded bands listed under the picker (docs/protocol.md §14.5).
 */
import { ageText, type Device, fmtMetricValue, gapText, type MetricGap, skewText } from "@tether/sdk";
import { PollStatus, useHashQuery, useNow, usePoll } from "../../ui";
import { metrics, REFRESH_MS } from "./api";
import {
  type ChartData,
  type ChartDef,
  chartsFor,
  customChart,
  customMetrics,
  RANGES,
  rangeOf,
  toChartData,
  windowFor,
} from "./chart-data";
import { TimeChart } from "./TimeChart";

export function DeviceMetrics({ device }: { device: Device }) {
  const [q, setQuery] = useHashQuery();
  const range = rangeOf(q.get("range"));
  const picked = q.get("metric");
  const now = useNow(5000);

  const poll = usePoll(
    async () => {
      const names = await metrics.names(device.id);
      const have = new Set(names.series.map((s) => s.name));
      const custom = customMetrics(have);
      const chosen = picked && custom.includes(picked) ? picked : custom[0];
      const charts: ChartDef[] = [...chartsFor(have), ...(chosen ? [customChart(chosen)] : [])];
      const win = windowFor(range, Date.now());
      const step = `${range.stepMs / 1000}s`;
      const since = new Date(win.from).toISOString();
      const until = new Date(win.to).toISOString();
      const shown = await Promise.all(
        charts.map(async (def) => {
          const results = await Promise.all(
            def.queries.map((cq) =>
              metrics.query({ device: device.id, metric: cq.metric, agg: cq.agg, since, until, step }),
            ),
          );
          return { def, chart: toChartData(def, results, win, range.stepMs) };
        }),
      );
      return { names, custom, chosen, win, shown };
    },
    REFRESH_MS,
    [device.id, range.id, picked],
  );

  const d = poll.data;
  const gaps = d ? uniqueGaps(d.shown.map((s) => s.chart)) : [];
  const skew = d ? skewText(d.names.skewMs) : null;
  const lastAt = d ? Math.max(0, ...d.names.series.map((s) => s.lastAt ?? 0)) || null : null;

  return (
    <div className="card device-metrics" id="metrics">
      <div className="metrics-head">
        <h2>Metrics</h2>
        <fieldset className="status-filter range-picker" aria-label="Time range">
          {RANGES.map((r) => (
            <button
              key={r.id}
              type="button"
              className={r.id === range.id ? "seg active" : "seg"}
              aria-pressed={r.id === range.id}
              onClick={() => setQuery({ range: r.id === "1h" ? null : r.id })}
            >
              {r.id}
            </button>
          ))}
        </fieldset>
        {d && d.names.series.length > 0 && (
          <span
            className="muted metrics-fresh"
            title={lastAt ? new Date(lastAt).toLocaleString() : undefined}
          >
            last sample {ageText(lastAt, now)}
          </span>
        )}
      </div>
      <PollStatus poll={poll} />
      {!d && !poll.failure && <p className="muted">Loading…</p>}
      {skew && (
        <p className="skew-note" role="note">
          ⚠ The {skew}. Times shown are the server's.
        </p>
      )}
      {gaps.length > 0 && (
        <ul className="gap-notes" aria-label="Lost samples">
          {gaps.map((g) => (
            <li key={`${g.from} ${g.to} ${g.reason}`}>Gap: {gapText(g, now)}</li>
          ))}
        </ul>
      )}
      {d && d.names.series.length === 0 && (
        <p className="empty">
          {device.name} has sent no metrics yet. Metrics arrive over the telemetry channel once the agent has
          its token.
        </p>
      )}
      {d && d.names.series.length > 0 && (
        <div className={`chart-grid${poll.stale ? " is-stale" : ""}`}>
          {d.shown.map(({ def, chart }) => (
            <section className="chart-card" key={def.id} aria-label={def.title} data-chart-card={def.id}>
              <header>
                <h3>{def.id.startsWith("custom:") ? "Custom" : def.title}</h3>
                {def.id.startsWith("custom:") && (
                  <select
                    aria-label="Custom metric"
                    value={d.chosen}
                    onChange={(e) => setQuery({ metric: e.target.value })}
                  >
                    {d.custom.map((m) => (
                      <option key={m} value={m}>
                        {m}
                      </option>
                    ))}
                  </select>
                )}
                <span className="chart-now">{latestText(def, chart)}</span>
              </header>
              {chart.filled === 0 ? (
                <p className="muted chart-none">No samples in the last {range.id}.</p>
              ) : (
                <TimeChart def={def} chart={chart} win={d.win} />
              )}
            </section>
          ))}
        </div>
      )}
    </div>
  );
}

/**
 * The chart's header: the newest value of its first line on each axis ("84% · 12.36 V"), or
 * for `headline: "max"` the highest newest value and whose it is ("cpu 81.9 °C").
 */
function latestText(def: ChartDef, c: ChartData): string {
  const newest = (i: number) => (c.data[i + 1] as (number | null)[]).findLast((x) => x !== null) ?? null;
  if (def.headline === "max") {
    let best = -1;
    c.lines.forEach((_, i) => {
      const v = newest(i);
      if (v !== null && (best < 0 || v > (newest(best) as number))) best = i;
    });
    if (best < 0) return "";
    const v = fmtMetricValue(c.lines[best].metric, newest(best), { rate: def.unit.rate });
    return c.lines.length > 1 ? `${c.lines[best].label} ${v}` : v;
  }
  const out: string[] = [];
  for (const axis of [0, 1] as const) {
    const i = c.lines.findIndex((l) => l.axis === axis);
    const v = i < 0 ? null : newest(i);
    if (v === null) continue;
    const unit = axis === 1 ? def.unit2 : def.unit;
    out.push(fmtMetricValue(c.lines[i].metric, v, { rate: unit?.rate }));
  }
  return out.join(" · ");
}

function uniqueGaps(charts: ChartData[]): MetricGap[] {
  const seen = new Map<string, MetricGap>();
  for (const c of charts) for (const g of c.gaps) seen.set(`${g.from} ${g.to} ${g.reason} ${g.count}`, g);
  return [...seen.values()].sort((a, b) => a.from - b.from);
}
