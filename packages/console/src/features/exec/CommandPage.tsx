/** One command: what ran where, per-device results updating live, and each device's output. */
import { commandText } from "@tether/sdk";
import { useState } from "react";
import { fmtTime } from "../../format";
import { useSession } from "../../session";
import { ErrorNotice } from "../../ui";
import { CancelCommandButton, CommandStateBadge, RunsTable, SummaryBadges } from "./CommandParts";
import { fmtDuration, summarize, targetText } from "./exec";
import { useCommand } from "./useCommand";

export function CommandPage({ id }: { id: string }) {
  const canOperate = useSession().can("operator");
  const v = useCommand(id);
  // Devices whose full output is open (null: the default, a single device's is open).
  const [opened, setOpened] = useState<ReadonlySet<string> | null>(null);
  const c = v.command;
  const expanded = opened ?? new Set(v.runs.length === 1 ? [v.runs[0].deviceId] : []);
  const toggle = (id: string) => {
    const next = new Set(expanded);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setOpened(next);
  };

  return (
    <section>
      <p className="crumbs">
        <a href="#/commands">← Commands</a>
      </p>
      <ErrorNotice error={v.error} />
      {!c && !v.error && <p className="muted">Loading…</p>}
      {c && (
        <>
          <header className="page-head">
            <h1>
              Command <span className="mono command-id">{c.id}</span>
            </h1>
            <CommandStateBadge state={c.state} />
            {v.live && <span className="live-dot">live</span>}
            {canOperate && c.state === "running" && (
              <CancelCommandButton id={c.id} className="danger-outline" onCancelled={v.applyNow} />
            )}
          </header>

          <div className="card">
            <code className="command cmd-line">{commandText(c)}</code>
            <dl className="kv command-kv">
              <dt>Target</dt>
              <dd className="target">{targetText(c)}</dd>
              <dt>By</dt>
              <dd>{c.createdBy}</dd>
              <dt>Started</dt>
              <dd>{fmtTime(c.createdAt)}</dd>
              <dt>Finished</dt>
              <dd>
                {c.finishedAt
                  ? `${fmtTime(c.finishedAt)} (${fmtDuration(Date.parse(c.finishedAt) - Date.parse(c.createdAt))})`
                  : "—"}
              </dd>
              <dt>Timeout</dt>
              <dd>{fmtDuration(c.timeoutMs)}</dd>
              <dt>Concurrency</dt>
              <dd>{c.concurrency === 0 ? "no limit" : c.concurrency}</dd>
              <dt>Max failures</dt>
              <dd>{c.maxFailures ?? "no limit"}</dd>
              {c.queueTtlMs > 0 && (
                <>
                  <dt>Wait if offline</dt>
                  <dd>{fmtDuration(c.queueTtlMs)}</dd>
                </>
              )}
              {c.cwd && (
                <>
                  <dt>Directory</dt>
                  <dd className="mono">{c.cwd}</dd>
                </>
              )}
              {c.user && (
                <>
                  <dt>User</dt>
                  <dd className="mono">{c.user}</dd>
                </>
              )}
              {Object.keys(c.env).length > 0 && (
                <>
                  <dt>Environment</dt>
                  <dd className="mono">
                    {Object.entries(c.env).map(([k, val]) => (
                      <div key={k}>
                        {k}={val}
                      </div>
                    ))}
                  </dd>
                </>
              )}
              <dt>Summary</dt>
              <dd className="command-summary" data-state={c.state}>
                <SummaryBadges summary={v.runs.length ? summarize(v.runs) : c.summary} />
              </dd>
            </dl>
          </div>

          {v.runs.length === 0 ? (
            <p className="empty">No devices matched.</p>
          ) : (
            <RunsTable runs={v.runs} output={v.output} expanded={expanded} onToggle={toggle} />
          )}
        </>
      )}
    </section>
  );
}
