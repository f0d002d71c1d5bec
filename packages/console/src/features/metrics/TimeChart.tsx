/**
 * One time chart drawn with uPlot (loaded on first use, ./uplot.ts): lines with units on the
 * axes, null steps left as gaps (spanGaps false), gap records shaded as bands, the x axis fixed
 * to the chosen window so a device that stopped sending shows where it stopped.
 */
import { fmtMetricValue, metricUnit } from "@tether/sdk";
import { useEffect, useRef, useState } from "react";
import type uPlotType from "uplot";
import type { ChartData, ChartDef } from "./chart-data";

type UPlot = typeof uPlotType;
let loading: Promise<UPlot> | null = null;
const loadUPlot = (): Promise<UPlot> => {
  loading ??= import("./uplot").then((m) => m.default);
  return loading;
};

/** Line colours, in legend order (distinct on white, readable for the common colour blindness). */
export const PALETTE = [
  "#2f6fed",
  "#e8590c",
  "#2b8a3e",
  "#9c36b5",
  "#c92a2a",
  "#0b7285",
  "#5f3dc4",
  "#a61e4d",
];

const HEIGHT = 200;

/** Tick steps for byte axes: 1, 2, 5… of B, KiB, MiB, GiB, TiB, so ticks read "100 KiB/s", not "97.7 KiB/s". */
const BYTE_INCRS = [0, 1, 2, 3, 4].flatMap((k) =>
  [1, 2, 5, 10, 20, 50, 100, 200, 500].map((m) => m * 1024 ** k),
);

export function TimeChart({
  def,
  chart,
  win,
}: {
  def: ChartDef;
  chart: ChartData;
  win: { from: number; to: number };
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlotType | null>(null);
  const state = useRef({ chart, win });
  state.current = { chart, win };
  const [failed, setFailed] = useState<unknown>(null);
  // The plot is built again only when its lines change (names, axes); new points are setData.
  const shape = JSON.stringify([def.id, chart.lines.map((l) => [l.label, l.axis])]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `shape` stands for def and the lines
  useEffect(() => {
    let gone = false;
    let ro: ResizeObserver | null = null;
    loadUPlot().then(
      (UPlot) => {
        const el = box.current;
        if (gone || !el) return;
        const { chart: c } = state.current;
        const fmt = (u: { metric: string; rate?: boolean } | undefined) => (v: number | null) =>
          u ? fmtMetricValue(u.metric, v, { rate: u.rate }) : String(v);
        const left = fmt(def.unit);
        const right = fmt(def.unit2);
        const hasRight = c.lines.some((l) => l.axis === 1);
        const u = new UPlot(
          {
            width: Math.max(200, el.clientWidth),
            height: HEIGHT,
            ms: 1,
            // Room on the right for the last time tick when there is no right-hand axis.
            padding: [10, hasRight ? 8 : 28, 0, 0],
            scales: {
              x: { time: true, range: () => [state.current.win.from, state.current.win.to] },
              y: def.range ? { range: def.range } : { range: (_u, lo, hi) => padRange(lo, hi) },
              ...(hasRight
                ? { y2: { range: (_u: unknown, lo: number, hi: number) => padRange(lo, hi) } }
                : {}),
            },
            axes: [
              { stroke: "#6b7385", grid: { stroke: "#eef0f4" } },
              {
                scale: "y",
                stroke: "#6b7385",
                size: 76,
                grid: { stroke: "#eef0f4" },
                values: (_u, splits) => splits.map((v) => tick(left(v))),
                ...(metricUnit(def.unit.metric) === "bytes" ? { incrs: BYTE_INCRS } : {}),
              },
              ...(hasRight
                ? [
                    {
                      scale: "y2",
                      side: 1 as const,
                      stroke: "#6b7385",
                      size: 64,
                      grid: { show: false },
                      values: (_u: unknown, splits: number[]) => splits.map((v) => tick(right(v))),
                    },
                  ]
                : []),
            ],
            series: [
              { value: (_u, v) => (v === null ? "–" : new Date(v).toLocaleTimeString()) },
              ...c.lines.map((l, i) => ({
                label: l.label,
                scale: l.axis === 1 ? "y2" : "y",
                stroke: PALETTE[i % PALETTE.length],
                width: l.label === "total" ? 2 : 1.5,
                spanGaps: false,
                points: { show: false },
                value: (_u: unknown, v: number | null) => (l.axis === 1 ? right(v) : left(v)),
              })),
            ],
            hooks: {
              // Gap records as bands under the lines: the device said it lost samples there.
              drawClear: [
                (p) => {
                  const ctx = p.ctx;
                  const { top, height, left: x0, width } = p.bbox;
                  ctx.save();
                  ctx.fillStyle = "rgba(214, 69, 69, 0.10)";
                  for (const g of state.current.chart.gaps) {
                    const a = Math.max(x0, p.valToPos(g.from, "x", true));
                    const b = Math.min(x0 + width, p.valToPos(g.to, "x", true));
                    if (b > a) ctx.fillRect(a, top, Math.max(2, b - a), height);
                  }
                  ctx.restore();
                },
              ],
            },
          },
          c.data,
          el,
        );
        plot.current = u;
        ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: HEIGHT }));
        ro.observe(el);
      },
      (err) => {
        if (!gone) setFailed(err);
      },
    );
    return () => {
      gone = true;
      ro?.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [shape]);

  useEffect(() => {
    plot.current?.setData(chart.data);
  }, [chart]);

  if (failed) return <p className="muted">The chart could not be drawn ({String(failed)}).</p>;
  return (
    <div
      className="time-chart"
      ref={box}
      data-chart={def.id}
      data-lines={chart.lines.length}
      data-filled={chart.filled}
      data-empty={chart.empty}
      data-gap-records={chart.gaps.length}
      data-window={`${win.from},${win.to}`}
      style={{ minHeight: HEIGHT }}
    />
  );
}

/** An axis label without a trailing ".0" ("50 KiB/s" beside "150 KiB/s"). */
const tick = (s: string): string => s.replace(/\.0(?=\D|$)/, "");

/**
 * Some room above and below the data. The span is at least a tenth of the values' size, so
 * that a battery's 12.36–12.45 V does not fill the chart like a collapse; counts and
 * percentages that stay at or above 0 start at 0 when that is near.
 */
function padRange(lo: number | null, hi: number | null): [number, number] {
  if (lo === null || hi === null || !Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  const span = Math.max(hi - lo, Math.max(Math.abs(lo), Math.abs(hi)) * 0.1, 1e-9);
  const mid = (hi + lo) / 2;
  const a = mid - span * 0.6;
  const b = mid + span * 0.6;
  return [lo >= 0 && a < 0 ? 0 : a, b];
}
