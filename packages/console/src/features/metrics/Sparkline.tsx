/**
 * A small inline SVG sparkline for table rows: one polyline per run of values, so a step
 * without a sample (null) is a break in the line, not a slope across it.
 */
export function Sparkline({
  values,
  range,
  width = 120,
  height = 24,
  label,
}: {
  values: readonly (number | null)[];
  range?: [number, number];
  width?: number;
  height?: number;
  label: string;
}) {
  const seen = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (seen.length === 0)
    return (
      <span className="muted spark-none" title={label}>
        —
      </span>
    );
  const lo = range?.[0] ?? Math.min(...seen);
  const hi = range?.[1] ?? Math.max(...seen);
  const span = hi - lo || 1;
  const n = Math.max(1, values.length - 1);
  const runs: string[] = [];
  let run: string[] = [];
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      if (run.length) runs.push(run.join(" "));
      run = [];
      return;
    }
    const x = (i / n) * (width - 2) + 1;
    const y = height - 1 - ((Math.min(hi, Math.max(lo, v)) - lo) / span) * (height - 2);
    run.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  });
  if (run.length) runs.push(run.join(" "));
  return (
    <svg
      className="sparkline"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label={label}
      data-runs={runs.length}
    >
      <title>{label}</title>
      {runs.map((pts) =>
        pts.includes(" ") ? (
          <polyline key={pts} points={pts} fill="none" />
        ) : (
          // A lone sample between gaps: a dot.
          <circle key={pts} cx={pts.split(",")[0]} cy={pts.split(",")[1]} r={1.5} />
        ),
      )}
    </svg>
  );
}
