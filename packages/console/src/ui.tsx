/** Small shared pieces: polling hook, chips, badges, error banner. */
import type { Device } from "@tether/sdk";
import { useCallback, useEffect, useRef, useState } from "react";
import { errorText } from "./client";
import { ago, fmtTime } from "./format";

/** Load now and every `ms` while mounted; `reload` forces a refresh (e.g. after an action). */
export function usePoll<T>(load: () => Promise<T>, ms: number | null, deps: unknown[] = []) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const loadRef = useRef(load);
  loadRef.current = load;
  const seq = useRef(0);

  const reload = useCallback(async () => {
    const mine = ++seq.current;
    try {
      const v = await loadRef.current();
      if (mine === seq.current) {
        setData(v);
        setError(null);
      }
    } catch (err) {
      if (mine === seq.current) setError(errorText(err));
    }
  }, []);

  useEffect(() => {
    setData(null);
    void reload();
    if (ms === null) return;
    const t = setInterval(() => void reload(), ms);
    return () => {
      clearInterval(t);
      seq.current++;
    };
  }, [ms, reload, ...deps]);

  return { data, error, reload };
}

/** Re-render every `ms` so relative times ("12s ago") stay current. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

export function ErrorBanner({ error }: { error: string | null | undefined }) {
  if (!error) return null;
  return (
    <div className="error" role="alert">
      {error}
    </div>
  );
}

export function LabelChips({ labels }: { labels: Record<string, string> }) {
  const entries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return <span className="muted">—</span>;
  return (
    <span className="chips">
      {entries.map(([k, v]) => (
        <span className="chip" key={k} title={`${k}=${v}`}>
          {k}={v}
        </span>
      ))}
    </span>
  );
}

export function StateBadge({ state }: { state: string }) {
  return <span className={`badge state-${state}`}>{state}</span>;
}

export function Online({ online }: { online: boolean }) {
  return online ? (
    <span className="online on">
      <span aria-hidden="true">●</span> online
    </span>
  ) : (
    <span className="online off">
      <span aria-hidden="true">○</span> offline
    </span>
  );
}

export function FactsSummary({ facts }: { facts: Device["facts"] }) {
  if (!facts) return <span className="muted">no facts yet</span>;
  return (
    <span className="facts">
      <span>{facts.os || "?"}</span>
      <span className="sep">/</span>
      <span>{facts.arch || "?"}</span>
      <span className="sep">·</span>
      <span>agent {facts.agentVersion || "?"}</span>
    </span>
  );
}

export function Ago({ iso, now }: { iso: string | null; now: number }) {
  return <time title={fmtTime(iso)}>{ago(iso, now)}</time>;
}

/** A small inline error (forms, actions); nothing when there is none. */
export function InlineError({
  error,
  as = "div",
}: {
  error: string | null | undefined;
  as?: "div" | "span";
}) {
  if (!error) return null;
  const Tag = as;
  return (
    <Tag className="error small" role="alert">
      {error}
    </Tag>
  );
}

/** The filter form of list pages: a text field applied on submit, and optionally Refresh. */
export function FilterForm({
  label,
  placeholder,
  onApply,
  onRefresh,
}: {
  label: string;
  placeholder: string;
  onApply: (value: string) => void;
  onRefresh?: () => void;
}) {
  const [value, setValue] = useState("");
  return (
    <form
      className="filter"
      onSubmit={(e) => {
        e.preventDefault();
        onApply(value.trim());
      }}
    >
      <input
        aria-label={label}
        placeholder={placeholder}
        value={value}
        onChange={(e) => setValue(e.target.value)}
      />
      <button type="submit">Filter</button>
      {onRefresh && (
        <button type="button" onClick={() => void onRefresh()}>
          Refresh
        </button>
      )}
    </form>
  );
}
