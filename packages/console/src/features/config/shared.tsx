/** What the configuration pages share: layer links, status sentences, values as text, rollouts. */
import { SECRET_MASK } from "@tether/protocol/config";
import type { ReactNode } from "react";
import { ago, clock } from "../../format";
import { useSession } from "../../session";
import { ConfirmButton, ErrorNotice, useAction, useStaleAsOf } from "../../ui";
import { type ConfigRollout, configApi } from "./api";

/** "12s ago" from a time the server gave (never "in 2s" for something that just happened). */
export const since = (iso: string | null, now: number): string => ago(iso, Math.max(now, Date.now()));

/** The page of a layer (`defaults`, `group:NAME`, `device:NAME`). */
export const layerHref = (ref: string): string => `#/config/layers/${encodeURIComponent(ref)}`;
export const rolloutHref = (id: string): string => `#/config/rollouts/${encodeURIComponent(id)}`;

/** The crumbs back to the fleet view. */
export function BackToConfig() {
  return (
    <p className="crumbs">
      <a href="#/config">← Configuration</a>
    </p>
  );
}

/** A layer by its label ("group site-tokyo"), linking to its page. */
export function LayerLink({ layer, label }: { layer: string | null; label: string }) {
  if (!layer) return <span>{label}</span>;
  return (
    <a className="layer-link" href={layerHref(layer)}>
      {label}
    </a>
  );
}

/** A value as one line of text: strings quoted only when they would read as something else. */
export function valueText(v: unknown): string {
  if (v === SECRET_MASK) return SECRET_MASK;
  if (v === undefined) return "—";
  return JSON.stringify(v);
}

export function Value({ value, secret }: { value: unknown; secret?: boolean }) {
  if (secret)
    return (
      <span className="secret-value" title="Secret: write-only">
        {SECRET_MASK}
      </span>
    );
  return <code className="config-value">{valueText(value)}</code>;
}

/** A key or a file path, marked when it is secret. */
export function Named({ name, secret }: { name: string; secret: boolean }) {
  return (
    <>
      <code>{name}</code>
      {secret && <span className="badge secret-badge">secret</span>}
    </>
  );
}

export const STATUS_LABEL: Record<string, string> = {
  "in-sync": "in sync",
  pending: "pending",
  applying: "applying",
  failed: "failed",
  none: "no configuration",
};

export function SyncBadge({ status }: { status: string }) {
  return <span className={`badge sync-badge sync-${status}`}>{STATUS_LABEL[status] ?? status}</span>;
}

/** Keep the end of a long hook output (the last lines say what went wrong). */
export function tail(s: string, max = 600): string {
  const t = s.trimEnd();
  return t.length > max ? `…${t.slice(-max)}` : t;
}

interface StatusLike {
  status: string;
  desired: number | null;
  reported: number | null;
  online: boolean;
  error: string | null;
  hookOutput: string | null;
  heldBy: string | null;
}

/** "In sync at revision 14", "Failed at revision 15: apply hook exited 3", "Pending: device offline". */
export function statusSentence(s: StatusLike): string {
  switch (s.status) {
    case "in-sync":
      return `In sync at revision ${s.reported ?? s.desired}`;
    case "failed":
      return `Failed at revision ${s.reported ?? s.desired}${s.error ? `: ${s.error}` : ""}`;
    case "applying":
      return `Applying revision ${s.desired}: delivered, waiting for the device to report`;
    case "pending": {
      const why = [
        s.heldBy ? "held back by a staged rollout" : null,
        s.online ? null : "device offline",
      ].filter(Boolean);
      if (why.length === 0) return `Pending: revision ${s.desired} is on its way`;
      return `Pending: ${why.join("; ")}${s.heldBy ? "" : ` (revision ${s.desired} is sent when it returns)`}`;
    }
    case "none":
      return "No configuration applies to this device";
    default:
      return s.status;
  }
}

export const ROLLOUT_STATE: Record<string, string> = {
  canary: "canary",
  waiting: "waiting",
  rolling: "rolling out",
  paused: "paused",
  done: "done",
  aborted: "aborted",
};

export function RolloutStateBadge({ state }: { state: string }) {
  return <span className={`badge rollout-state rollout-${state}`}>{ROLLOUT_STATE[state] ?? state}</span>;
}

/** "Canary: 2 of 3 applied", "Waiting until 15:20 to release the rest" … */
export function rolloutSentence(r: ConfigRollout): string {
  const c = r.counts;
  const done = `${c.applied} of ${c.total} applied${c.failed ? `, ${c.failed} failed` : ""}`;
  switch (r.state) {
    case "canary":
      return `Canary (${c.canary} ${c.canary === 1 ? "device" : "devices"}) released: ${done}`;
    case "waiting":
      return r.releaseAt
        ? `Canary applied; the rest is released at ${clock(Date.parse(r.releaseAt))}: ${done}`
        : `Canary applied; waiting for Resume to release the rest: ${done}`;
    case "rolling":
      return `Released to all: ${done}`;
    case "paused":
      return `Paused${r.reason ? ` (${r.reason})` : ""}: ${done}`;
    case "done":
      return `Done: ${done}`;
    case "aborted":
      return `Aborted${r.reason ? ` (${r.reason})` : ""}: ${done}`;
    default:
      return done;
  }
}

export function RolloutProgress({ r }: { r: ConfigRollout }) {
  const c = r.counts;
  const pct = (n: number) => (c.total ? (100 * n) / c.total : 0);
  return (
    <div
      className="rollout-bar"
      role="img"
      aria-label={`${c.applied} applied, ${c.failed} failed, ${c.total} devices`}
      title={`${c.applied} applied · ${c.failed} failed · ${c.released} released · ${c.total} devices`}
    >
      <span className="bar-ok" style={{ width: `${pct(c.applied)}%` }} />
      <span className="bar-failed" style={{ width: `${pct(c.failed)}%` }} />
      <span
        className="bar-released"
        style={{ width: `${pct(Math.max(0, c.released - c.applied - c.failed))}%` }}
      />
    </div>
  );
}

/** Pause / Resume / Abort (operators; nothing for a finished rollout or while stale). */
export function RolloutActions({ r, onDone }: { r: ConfigRollout; onDone: () => void }) {
  const can = useSession().can("operator");
  const stale = useStaleAsOf() !== null;
  const act = useAction();
  if (!can || r.state === "done" || r.state === "aborted") return null;
  const run = (a: "pause" | "resume") =>
    void act.run(async () => {
      await configApi.rolloutAction(r.id, a);
      onDone();
    });
  return (
    <div className="rollout-actions">
      <div className="buttons">
        {r.state !== "paused" && (
          <button type="button" className="small" disabled={act.busy || stale} onClick={() => run("pause")}>
            Pause
          </button>
        )}
        {(r.state === "paused" || r.state === "waiting") && (
          <button
            type="button"
            className="small primary"
            disabled={act.busy || stale}
            title={r.state === "waiting" ? "Release the rest now" : "Continue the rollout"}
            onClick={() => run("resume")}
          >
            Resume
          </button>
        )}
        <ConfirmButton
          label="Abort"
          question={`Abort? ${r.layerLabel} goes back to revision ${r.baseRevision ?? "(empty)"} on every device.`}
          yes="Abort rollout"
          busy={act.busy || stale}
          onConfirm={async () => {
            await configApi.rolloutAction(r.id, "abort");
            onDone();
          }}
        />
      </div>
      <ErrorNotice error={act.error} compact />
    </div>
  );
}

/** A short labelled definition list row set. */
export function Facts({ rows }: { rows: [string, ReactNode][] }) {
  return (
    <dl className="kv">
      {rows.map(([k, v]) => (
        <FactRow key={k} k={k} v={v} />
      ))}
    </dl>
  );
}

function FactRow({ k, v }: { k: string; v: ReactNode }) {
  return (
    <>
      <dt>{k}</dt>
      <dd>{v}</dd>
    </>
  );
}
