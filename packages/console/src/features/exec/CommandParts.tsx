/**
 * Pieces shared by the device page's Run panel, the Commands page and a command's page.
 * Device output is hostile: it is only ever rendered as React text (never as HTML).
 */
import {
  type Command,
  type CommandRun,
  type CommandSummary,
  commandText,
  LIVE_RUN_STATUSES,
  type RunStatus,
} from "@tether/sdk";
import { useLayoutEffect, useRef, useState } from "react";
import { client } from "../../client";
import { fmtBytes, fmtTime } from "../../format";
import { Ago, ErrorNotice, useAction } from "../../ui";
import {
  fmtDuration,
  QUEUE_TTL_HINT,
  runErrorText,
  statusLabel,
  statusTone,
  summaryParts,
  targetText,
} from "./exec";
import type { RunOutput } from "./useCommand";

export function RunStatusBadge({ status }: { status: RunStatus }) {
  return (
    <span className={`badge run-${statusTone(status)}`} data-status={status}>
      {statusLabel(status)}
    </span>
  );
}

export function CommandStateBadge({ state }: { state: Command["state"] }) {
  const tone = state === "running" ? "live" : state === "cancelled" ? "off" : "done";
  return (
    <span className={`badge run-${tone}`} data-state={state}>
      {state}
    </span>
  );
}

export function SummaryBadges({ summary }: { summary: CommandSummary }) {
  const parts = summaryParts(summary);
  if (parts.length === 0) return <span className="muted">no devices</span>;
  return (
    <span className="summary-badges">
      {parts.map((p) => (
        <span key={p.status} className={`badge run-${statusTone(p.status)}`}>
          {p.n} {statusLabel(p.status)}
        </span>
      ))}
    </span>
  );
}

/** Status, exit code, duration and flags of one run. */
export function RunFacts({ run }: { run: CommandRun }) {
  return (
    <div className="run-facts" data-status={run.status}>
      <span>
        <span className="muted">Status</span> <RunStatusBadge status={run.status} />
      </span>
      <span>
        <span className="muted">Exit code</span>{" "}
        <b className="exit-code">{run.exitCode === null ? "—" : run.exitCode}</b>
      </span>
      {run.signal && (
        <span>
          <span className="muted">Signal</span> <b className="signal">{run.signal}</b>
        </span>
      )}
      <span>
        <span className="muted">Duration</span> <b className="duration">{fmtDuration(run.durationMs)}</b>
      </span>
      {run.stdoutTruncated && <span className="badge run-wait">stdout truncated</span>}
      {run.stderrTruncated && <span className="badge run-wait">stderr truncated</span>}
      {run.error && <span className="run-error">{runErrorText(run)}</span>}
    </div>
  );
}

/** A run's stdout and stderr as text, following the end while new output arrives. */
export function RunOutputView({ run, output }: { run: CommandRun; output: RunOutput | undefined }) {
  const final = !LIVE_RUN_STATUSES.has(run.status);
  return (
    <div className="run-output">
      <OutputBlock
        stream="stdout"
        text={output?.stdout ?? ""}
        bytes={final ? run.stdoutBytes : null}
        truncated={run.stdoutTruncated}
        waiting={!final}
      />
      <OutputBlock
        stream="stderr"
        text={output?.stderr ?? ""}
        bytes={final ? run.stderrBytes : null}
        truncated={run.stderrTruncated}
        waiting={!final}
      />
      {output?.clipped && <p className="muted small">The page shows only the first 4 MiB of each stream.</p>}
    </div>
  );
}

function OutputBlock({
  stream,
  text,
  bytes,
  truncated,
  waiting,
}: {
  stream: "stdout" | "stderr";
  text: string;
  bytes: number | null;
  truncated: boolean;
  waiting: boolean;
}) {
  const ref = useRef<HTMLPreElement>(null);
  const [stick, setStick] = useState(true);
  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll when the text grows
  useLayoutEffect(() => {
    const el = ref.current;
    if (el && stick) el.scrollTop = el.scrollHeight;
  }, [text, stick]);
  return (
    <div className={`output-block ${stream}`}>
      <div className="output-head">
        <span className="output-name">{stream}</span>
        <span className="muted">
          {bytes !== null && fmtBytes(bytes)}
          {truncated && " · truncated"}
        </span>
      </div>
      <pre
        ref={ref}
        className={`output ${stream}${text ? "" : " empty-output"}`}
        role="log"
        aria-label={stream}
        onScroll={(e) => {
          const el = e.currentTarget;
          setStick(el.scrollTop + el.clientHeight >= el.scrollHeight - 8);
        }}
      >
        {text || (waiting ? "…" : "(no output)")}
      </pre>
    </div>
  );
}

/** The command history (newest first). */
export function CommandsTable({ commands, now }: { commands: Command[]; now: number }) {
  return (
    <table className="commands">
      <thead>
        <tr>
          <th>ID</th>
          <th>When</th>
          <th>By</th>
          <th>Command</th>
          <th>Target</th>
          <th>Result</th>
        </tr>
      </thead>
      <tbody>
        {commands.map((c) => (
          <tr key={c.id} data-command-id={c.id}>
            <td className="mono nowrap">
              <a href={`#/commands/${encodeURIComponent(c.id)}`}>{c.id}</a>
            </td>
            <td className="nowrap">
              <Ago iso={c.createdAt} now={now} />
              <div className="sub">{fmtTime(c.createdAt)}</div>
            </td>
            <td className="actor">{c.createdBy}</td>
            <td>
              <code className="cmd-text">{commandText(c)}</code>
            </td>
            <td className="target">{targetText(c)}</td>
            <td className="result">
              <div className="result-line">
                <CommandStateBadge state={c.state} />
                <SummaryBadges summary={c.summary} />
              </div>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const PREVIEW_LINES = 3;

/** The first lines of a stream, and how many more there are. */
function head(text: string | undefined, n: number): { lines: string[]; more: number } {
  if (!text) return { lines: [], more: 0 };
  const all = text.replace(/\n$/, "").split("\n");
  return { lines: all.slice(0, n), more: Math.max(0, all.length - n) };
}

/**
 * Per-device results. Each row shows the first lines of its output under it; clicking the row
 * (or "Show all output") opens the device's full output, status and error in place.
 */
export function RunsTable({
  runs,
  output,
  expanded,
  onToggle,
}: {
  runs: CommandRun[];
  output: Record<string, RunOutput>;
  expanded: ReadonlySet<string>;
  onToggle: (deviceId: string) => void;
}) {
  return (
    <table className="runs">
      <thead>
        <tr>
          <th>Device</th>
          <th>Status</th>
          <th>Exit code</th>
          <th>Duration</th>
          <th>Output</th>
          <th>Error</th>
        </tr>
      </thead>
      {runs.map((r) => {
        const open = expanded.has(r.deviceId);
        const o = output[r.deviceId];
        const out = head(o?.stdout, PREVIEW_LINES);
        const err = head(o?.stderr, o?.stdout ? 2 : PREVIEW_LINES);
        const any = out.lines.length > 0 || err.lines.length > 0;
        return (
          <tbody key={r.deviceId} className={`run-group${open ? " open" : ""}`}>
            <tr
              data-device-id={r.deviceId}
              data-device={r.device}
              className={`clickable${open ? " selected" : ""}`}
              aria-expanded={open}
              onClick={() => onToggle(r.deviceId)}
            >
              <td className="name">
                <a
                  href={`#/devices/${encodeURIComponent(r.deviceId)}`}
                  title="Open the device's page"
                  onClick={(e) => e.stopPropagation()}
                >
                  {r.device}
                </a>
              </td>
              <td className="status">
                <RunStatusBadge status={r.status} />
              </td>
              <td className="exit-code mono">{r.exitCode === null ? (r.signal ?? "—") : r.exitCode}</td>
              <td className="nowrap">{fmtDuration(r.durationMs)}</td>
              <td className="nowrap sub">
                {fmtBytes(r.stdoutBytes)} / {fmtBytes(r.stderrBytes)}
                {(r.stdoutTruncated || r.stderrTruncated) && " · truncated"}
              </td>
              <td className="run-error-cell">{runErrorText(r) ?? <span className="muted">—</span>}</td>
            </tr>
            {open ? (
              <tr className="run-expanded">
                <td colSpan={6}>
                  <div className="run-detail" data-device-id={r.deviceId}>
                    <RunFacts run={r} />
                    <RunOutputView run={r} output={o} />
                    <button type="button" className="small" onClick={() => onToggle(r.deviceId)}>
                      Hide output
                    </button>
                  </div>
                </td>
              </tr>
            ) : (
              any && (
                <tr className="run-preview" onClick={() => onToggle(r.deviceId)}>
                  <td colSpan={6}>
                    <pre className="preview" title={`First lines of ${r.device}'s output`}>
                      {out.lines.join("\n")}
                      {out.lines.length > 0 && err.lines.length > 0 && "\n"}
                      {err.lines.length > 0 && <span className="preview-err">{err.lines.join("\n")}</span>}
                    </pre>
                    <button
                      type="button"
                      className="linklike small"
                      onClick={(e) => {
                        e.stopPropagation();
                        onToggle(r.deviceId);
                      }}
                    >
                      {out.more + err.more > 0
                        ? `Show all output (${out.more + err.more} more ${out.more + err.more === 1 ? "line" : "lines"})`
                        : "Show output"}
                    </button>
                  </td>
                </tr>
              )
            )}
          </tbody>
        );
      })}
    </table>
  );
}

/** Cancel a running command; reports the updated command, and shows its own error. */
export function CancelCommandButton({
  id,
  className,
  onCancelled,
}: {
  id: string;
  className: string;
  onCancelled: (c: Command) => void;
}) {
  const act = useAction();
  return (
    <>
      <button
        type="button"
        className={className}
        disabled={act.busy}
        onClick={() =>
          void act.run(async () => {
            onCancelled(await client.cancelCommand(id));
          })
        }
      >
        {act.busy ? "Cancelling…" : "Cancel"}
      </button>
      <ErrorNotice error={act.error} compact />
    </>
  );
}

/**
 * "Timeout (s)" and "Wait if offline", in both run forms; `narrow` for the device page's
 * one-line form.
 */
export function TimingFields({
  timeout,
  onTimeout,
  queueTtl,
  onQueueTtl,
  narrow = false,
}: {
  timeout: string;
  onTimeout: (v: string) => void;
  queueTtl: string;
  onQueueTtl: (v: string) => void;
  narrow?: boolean;
}) {
  const labelClass = narrow ? "narrow" : undefined;
  const textClass = narrow ? "label-text" : undefined;
  return (
    <>
      <label className={labelClass}>
        <span className={textClass}>Timeout (s)</span>
        <input inputMode="decimal" value={timeout} onChange={(e) => onTimeout(e.target.value)} />
      </label>
      <label className={labelClass} title={QUEUE_TTL_HINT}>
        <span className={textClass}>Wait if offline</span>
        <input
          placeholder="don't wait"
          value={queueTtl}
          onChange={(e) => onQueueTtl(e.target.value)}
          autoComplete="off"
        />
      </label>
    </>
  );
}
