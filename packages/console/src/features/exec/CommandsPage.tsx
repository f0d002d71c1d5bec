/** Commands: "Run on fleet" (operators) and the command history, newest first. */
import { type Device, MAX_TIMEOUT_MS } from "@tether/sdk";
import { useEffect, useState } from "react";
import { client, errorText } from "../../client";
import { useSession } from "../../session";
import { ErrorBanner, FilterForm, InlineError, useNow, usePoll } from "../../ui";
import { CommandsTable } from "./CommandParts";
import { optionalInt, secondsToMs } from "./exec";

export function CommandsPage() {
  const session = useSession();
  const [applied, setApplied] = useState("");
  const { data, error, reload } = usePoll(
    () => client.listCommands({ device: applied || undefined, limit: 100 }),
    3000,
    [applied],
  );
  const now = useNow();

  return (
    <section>
      <header className="page-head">
        <h1>Commands</h1>
      </header>
      {session.can("operator") && <FleetForm canRunAll={session.can("admin")} />}
      <header className="page-head">
        <h2 className="section-title">History</h2>
        <FilterForm
          label="Device filter"
          placeholder="device id or name"
          onApply={setApplied}
          onRefresh={reload}
        />
      </header>
      <ErrorBanner error={error} />
      {data && data.length === 0 && (
        <p className="empty">No commands{applied ? " for this device" : " yet"}.</p>
      )}
      {data && data.length > 0 && <CommandsTable commands={data} now={now} />}
      {!data && !error && <p className="muted">Loading…</p>}
    </section>
  );
}

/** Devices a selector matches, counted the way a run would see them (accepted devices only). */
function useMatch(selector: string, all: boolean) {
  const [match, setMatch] = useState<{ key: string; devices?: Device[]; error?: string } | null>(null);
  const key = all ? "\u0000all" : selector.trim();
  useEffect(() => {
    if (!key) {
      setMatch(null);
      return;
    }
    let stop = false;
    const t = setTimeout(async () => {
      try {
        const devices = await client.listDevices(all ? undefined : key);
        if (!stop) setMatch({ key, devices });
      } catch (err) {
        if (!stop) setMatch({ key, error: errorText(err) });
      }
    }, 250);
    return () => {
      stop = true;
      clearTimeout(t);
    };
  }, [key, all]);
  return match && match.key === key ? match : null;
}

function FleetForm({ canRunAll }: { canRunAll: boolean }) {
  const [selector, setSelector] = useState("");
  const [all, setAll] = useState(false);
  const [text, setText] = useState("");
  const [timeout, setTimeoutText] = useState("60");
  const [concurrency, setConcurrency] = useState("");
  const [maxFailures, setMaxFailures] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const match = useMatch(selector, all);

  const accepted = match?.devices?.filter((d) => d.state === "accepted") ?? [];
  const online = accepted.filter((d) => d.online).length;
  const others = (match?.devices?.length ?? 0) - accepted.length;

  const submit = async () => {
    const cmd = text.trim();
    if (!all && !selector.trim())
      return setError(
        canRunAll ? "Pick devices: type a selector or tick All devices." : "Pick devices: type a selector.",
      );
    if (!cmd) return setError("Type a command.");
    const timeoutMs = secondsToMs(timeout, MAX_TIMEOUT_MS);
    if (timeoutMs === null) return setError("The timeout is a number of seconds, at most 86400.");
    const conc = optionalInt(concurrency, 0);
    if (conc === null) return setError("Concurrency is a whole number (0 = no limit).");
    const maxF = optionalInt(maxFailures, 1);
    if (maxF === null) return setError("Max failures is a whole number, at least 1.");
    setBusy(true);
    setError(null);
    try {
      const c = await client.createCommand({
        argv: [cmd],
        shell: true,
        timeoutMs,
        ...(all ? { all: true } : { selector: selector.trim() }),
        ...(conc !== undefined ? { concurrency: conc } : {}),
        ...(maxF !== undefined ? { maxFailures: maxF } : {}),
      });
      window.location.hash = `#/commands/${encodeURIComponent(c.id)}`;
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  return (
    <div className="card">
      <h2>Run on fleet</h2>
      <form
        className="form fleet-form"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <div className="row">
          <label className="grow">
            <span>Selector</span>
            <input
              className="mono"
              placeholder="site=tokyo,model=amr2"
              value={selector}
              disabled={all}
              onChange={(e) => setSelector(e.target.value)}
              autoComplete="off"
              spellCheck={false}
            />
          </label>
          {canRunAll && (
            <label className="check">
              <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} />
              <span>All devices</span>
            </label>
          )}
        </div>
        <div className="match" role="status">
          {match?.error && <span className="error small">{match.error}</span>}
          {match?.devices && (
            <span className="match-count">
              {accepted.length} {accepted.length === 1 ? "device matches" : "devices match"}
              <span className="muted">
                {" "}
                · {online} online
                {others > 0 && ` · ${others} not accepted (not run)`}
              </span>
            </span>
          )}
        </div>
        <label>
          <span>Command</span>
          <input
            className="mono"
            placeholder="systemctl is-active robotd"
            value={text}
            onChange={(e) => setText(e.target.value)}
            autoComplete="off"
            spellCheck={false}
          />
        </label>
        <small className="muted field-hint">Runs through /bin/sh -c as each agent's user.</small>
        <div className="row">
          <label>
            <span>Timeout (s)</span>
            <input inputMode="decimal" value={timeout} onChange={(e) => setTimeoutText(e.target.value)} />
          </label>
          <label>
            <span>Concurrency</span>
            <input
              inputMode="numeric"
              placeholder="100"
              value={concurrency}
              onChange={(e) => setConcurrency(e.target.value)}
            />
          </label>
          <label>
            <span>Max failures</span>
            <input
              inputMode="numeric"
              placeholder="no limit"
              value={maxFailures}
              onChange={(e) => setMaxFailures(e.target.value)}
            />
          </label>
        </div>
        <div className="buttons">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Starting…" : "Run"}
          </button>
        </div>
        <InlineError error={error} />
      </form>
    </div>
  );
}
