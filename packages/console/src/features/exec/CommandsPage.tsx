/** Commands: "Run on fleet" (operators) and the command history, newest first. */
import { type Device, parseSelector } from "@tether/sdk";
import { useEffect, useState } from "react";
import { client } from "../../client";
import { useSession } from "../../session";
import { ErrorNotice, FilterForm, PollStatus, Presence, useHashQuery, useNow, usePoll } from "../../ui";
import { CommandsTable, TimingFields } from "./CommandParts";
import { optionalInt, runFields } from "./exec";

export function CommandsPage() {
  const session = useSession();
  const [applied, setApplied] = useState("");
  const poll = usePoll(() => client.listCommands({ device: applied || undefined, limit: 100 }), 3000, [
    applied,
  ]);
  const { data, failure, reload } = poll;
  const now = useNow();

  return (
    <section>
      <header className="page-head">
        <h1>Commands</h1>
      </header>
      {session.can("operator") && <FleetForm canRunAll={session.can("admin")} />}
      <header className="page-head">
        <h2 className="section-title">History</h2>
        <FilterForm label="Device filter" placeholder="device name" onApply={setApplied} onRefresh={reload} />
      </header>
      <PollStatus poll={poll} />
      {data && data.length === 0 && (
        <p className="empty">No commands{applied ? " for this device" : " yet"}.</p>
      )}
      {data && data.length > 0 && <CommandsTable commands={data} now={now} />}
      {!data && !failure && <p className="muted">Loading…</p>}
    </section>
  );
}

/** What the fleet form targets: a selector, all devices, or devices picked in the list. */
type Target = { kind: "selector"; selector: string } | { kind: "all" } | { kind: "devices"; ids: string[] };

/** The devices a target matches, the way a run would see them; a bad selector explained first. */
function useMatch(target: Target) {
  const [match, setMatch] = useState<{ key: string; devices?: Device[]; error?: unknown } | null>(null);
  const key =
    target.kind === "all"
      ? "\u0000all"
      : target.kind === "devices"
        ? `\u0000devices:${target.ids.join(",")}`
        : target.selector.trim();
  useEffect(() => {
    if (!key) {
      setMatch(null);
      return;
    }
    let stop = false;
    const t = setTimeout(async () => {
      try {
        let devices: Device[];
        if (key.startsWith("\u0000devices:")) {
          const ids = new Set(key.slice("\u0000devices:".length).split(","));
          devices = (await client.listDevices()).filter((d) => ids.has(d.id));
        } else if (key === "\u0000all") devices = await client.listDevices();
        else {
          parseSelector(key); // explained here, before any request
          devices = await client.listDevices(key);
        }
        if (!stop) setMatch({ key, devices });
      } catch (err) {
        if (!stop) setMatch({ key, error: err });
      }
    }, 250);
    return () => {
      stop = true;
      clearTimeout(t);
    };
  }, [key]);
  return match && match.key === key ? match : null;
}

const PREVIEW_NAMES = 12;

/** Which devices a run would reach: the count, then names with their status. */
function MatchPreview({ match }: { match: ReturnType<typeof useMatch> }) {
  if (!match) return null;
  if (match.error) return <ErrorNotice error={match.error} compact />;
  const devices = match.devices ?? [];
  const accepted = devices.filter((d) => d.state === "accepted");
  const online = accepted.filter((d) => d.online);
  const offline = accepted.length - online.length;
  const others = devices.length - accepted.length;
  const names = [...online, ...accepted.filter((d) => !d.online)];
  return (
    <div className="match-preview">
      <span className="match-count">
        {accepted.length} {accepted.length === 1 ? "device matches" : "devices match"}
        <span className="muted">
          {" "}
          · {online.length} online · {offline} offline
          {others > 0 && ` · ${others} not accepted (not run)`}
        </span>
      </span>
      {names.length > 0 && (
        <ul className="match-names" aria-label="Matching devices">
          {names.slice(0, PREVIEW_NAMES).map((d) => (
            <li key={d.id} data-status={d.online ? "online" : "offline"}>
              <span className="match-name">{d.name}</span> <Presence device={d} />
            </li>
          ))}
          {names.length > PREVIEW_NAMES && <li className="muted">and {names.length - PREVIEW_NAMES} more</li>}
        </ul>
      )}
      {accepted.length === 0 && <span className="muted"> Nothing would run.</span>}
    </div>
  );
}

function FleetForm({ canRunAll }: { canRunAll: boolean }) {
  const [q, setQuery] = useHashQuery();
  const picked = (q.get("devices") ?? "").split(",").filter(Boolean);
  const [selector, setSelector] = useState("");
  const [all, setAll] = useState(false);
  const [text, setText] = useState("");
  const [timeout, setTimeoutText] = useState("60");
  const [queueTtl, setQueueTtl] = useState("");
  const [concurrency, setConcurrency] = useState("");
  const [maxFailures, setMaxFailures] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const target: Target =
    picked.length > 0
      ? { kind: "devices", ids: picked }
      : all
        ? { kind: "all" }
        : { kind: "selector", selector };
  const match = useMatch(target);
  const pickedDevices = match?.devices?.filter((d) => d.state === "accepted") ?? [];

  const submit = async () => {
    if (target.kind === "selector" && !selector.trim())
      return setError(
        canRunAll ? "Pick devices: type a selector or tick All devices." : "Pick devices: type a selector.",
      );
    if (target.kind === "selector") {
      try {
        parseSelector(selector.trim());
      } catch (err) {
        return setError(err);
      }
    }
    if (target.kind === "devices" && pickedDevices.length === 0)
      return setError("None of the picked devices can run commands (they must be accepted).");
    const f = runFields(text, timeout, queueTtl);
    if ("error" in f) return setError(f.error);
    const conc = optionalInt(concurrency, 0);
    if (conc === null) return setError("Concurrency is a whole number (0 = no limit).");
    const maxF = optionalInt(maxFailures, 1);
    if (maxF === null) return setError("Max failures is a whole number, at least 1.");
    setBusy(true);
    setError(null);
    try {
      const c = await client.createCommand({
        ...f.fields,
        ...(target.kind === "devices"
          ? { devices: pickedDevices.map((d) => d.id) }
          : target.kind === "all"
            ? { all: true }
            : { selector: selector.trim() }),
        ...(conc !== undefined ? { concurrency: conc } : {}),
        ...(maxF !== undefined ? { maxFailures: maxF } : {}),
      });
      window.location.hash = `#/commands/${encodeURIComponent(c.id)}`;
    } catch (err) {
      setError(err);
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
        {target.kind === "devices" ? (
          <div className="row picked-row">
            <span className="picked-text">
              On the {picked.length === 1 ? "device" : `${picked.length} devices`} picked in the device list
            </span>
            <button type="button" className="small" onClick={() => setQuery({ devices: null })}>
              Use a selector instead
            </button>
          </div>
        ) : (
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
        )}
        <div className="match" role="status">
          <MatchPreview match={match} />
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
          <TimingFields
            timeout={timeout}
            onTimeout={setTimeoutText}
            queueTtl={queueTtl}
            onQueueTtl={setQueueTtl}
          />
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
        <small className="muted field-hint">
          Wait if offline: how long a device that is offline may take to come back before its run is reported
          expired (e.g. 10m). Blank: offline devices are reported offline at once.
        </small>
        <div className="buttons">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Starting…" : "Run"}
          </button>
        </div>
        <ErrorNotice error={error} compact />
      </form>
    </div>
  );
}
