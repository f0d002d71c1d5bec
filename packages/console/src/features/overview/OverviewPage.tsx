/**
 * The fleet at a glance: how many devices are online, offline and pending (each a link to the
 * filtered list), recent failures with device names, recent commands, and a reserved place for
 * health figures (telemetry fills it later; nothing is made up meanwhile).
 */
import {
  type Command,
  type CommandRun,
  commandText,
  countByPresence,
  type Device,
  LIVE_RUN_STATUSES,
  type RunStatus,
} from "@tether/sdk";
import { useRef } from "react";
import { client } from "../../client";
import { fmtTime } from "../../format";
import { Ago, PollStatus, StaleScope, useNow, usePoll, useStaleAsOf } from "../../ui";
import { CommandStateBadge, RunStatusBadge, SummaryBadges } from "../exec/CommandParts";
import { runErrorText, statusTone, summaryParts, targetText } from "../exec/exec";

/** Device results an operator should look at. */
const failed = (s: RunStatus) => statusTone(s) === "bad";
const RECENT_COMMANDS = 25;
const FAILURE_COMMANDS = 5;
const FAILURES_SHOWN = 8;

interface Failure {
  command: Command;
  run: CommandRun;
}

/** A command whose runs can no longer change. */
const finished = (c: Command) =>
  c.state !== "running" && !(c.runs ?? []).some((r) => LIVE_RUN_STATUSES.has(r.status));

/**
 * The recent commands and their failed runs. `cache` keeps the finished commands already
 * fetched in full, so each poll asks only for those missing or still running.
 */
async function loadActivity(
  cache: Map<string, Command>,
): Promise<{ commands: Command[]; failures: Failure[] }> {
  const commands = await client.listCommands({ limit: RECENT_COMMANDS });
  const withFailures = commands
    .filter((c) => summaryParts(c.summary).some((p) => failed(p.status)))
    .slice(0, FAILURE_COMMANDS);
  const full = await Promise.all(
    withFailures.map(async (c) => {
      const known = cache.get(c.id);
      if (known) return known;
      const got = await client.getCommand(c.id);
      if (finished(got)) cache.set(c.id, got);
      return got;
    }),
  );
  // Keep only what is still shown.
  const shown = new Set(withFailures.map((c) => c.id));
  for (const id of cache.keys()) if (!shown.has(id)) cache.delete(id);
  const failures = full.flatMap((c) =>
    (c.runs ?? [])
      .filter((r) => failed(r.status))
      .map((run) => ({ command: c, run }))
      .sort((a, b) => (b.run.finishedAt ?? "").localeCompare(a.run.finishedAt ?? "")),
  );
  return { commands, failures };
}

export function OverviewPage() {
  const devices = usePoll(() => client.listDevices(), 3000);
  const fetched = useRef(new Map<string, Command>());
  const activity = usePoll(() => loadActivity(fetched.current), 5000);
  const now = useNow();

  return (
    <section className="overview">
      <header className="page-head">
        <h1>Fleet overview</h1>
      </header>
      <PollStatus poll={devices} />
      <StaleScope asOf={devices.stale ? devices.asOf : null}>
        <div className="card">
          <h2>Devices</h2>
          {devices.data && <Counts devices={devices.data} />}
          {!devices.data && !devices.failure && <p className="muted">Loading…</p>}
        </div>

        <div className="grid">
          <div className="card">
            <h2>Recent failures</h2>
            <PollStatus poll={activity} />
            {activity.data &&
              (activity.data.failures.length === 0 ? (
                <p className="muted">No failed, lost or timed-out results in the recent commands.</p>
              ) : (
                <Failures failures={activity.data.failures.slice(0, FAILURES_SHOWN)} now={now} />
              ))}
            {!activity.data && !activity.failure && <p className="muted">Loading…</p>}
          </div>

          <div className="card">
            <h2>Recent commands</h2>
            {activity.data &&
              (activity.data.commands.length === 0 ? (
                <p className="muted">
                  No commands yet. <a href="#/commands">Run one on the fleet</a>.
                </p>
              ) : (
                <RecentCommands commands={activity.data.commands.slice(0, 6)} now={now} />
              ))}
            {activity.data && activity.data.commands.length > 0 && (
              <p className="card-foot">
                <a href="#/commands">All commands →</a>
              </p>
            )}
          </div>
        </div>
      </StaleScope>

      <div className="card health-placeholder" data-placeholder="telemetry">
        <h2>Health</h2>
        <p className="muted">
          Health figures (CPU, memory, disk, temperature across the fleet) will appear here once devices
          report telemetry. Nothing is collected yet, so nothing is shown.
        </p>
      </div>
    </section>
  );
}

function Counts({ devices }: { devices: Device[] }) {
  const asOf = useStaleAsOf();
  const n = countByPresence(devices);
  const tiles = [
    { key: "online", label: "Online", count: n.online },
    { key: "offline", label: "Offline", count: n.offline },
    { key: "pending", label: "Pending approval", count: n.pending },
  ];
  return (
    <div className="tiles">
      {tiles.map((t) => (
        <a
          key={t.key}
          className={`tile tile-${t.key}${t.count > 0 ? " nonzero" : ""}${asOf !== null ? " stale" : ""}`}
          href={`#/devices?status=${t.key}`}
          data-count={t.key}
        >
          <span className="tile-count">{t.count}</span>
          <span className="tile-label">{t.label}</span>
        </a>
      ))}
      <a className="tile tile-total" href="#/devices" data-count="total">
        <span className="tile-count">{devices.length}</span>
        <span className="tile-label">In all</span>
      </a>
    </div>
  );
}

function Failures({ failures, now }: { failures: Failure[]; now: number }) {
  return (
    <ul className="failures">
      {failures.map(({ command: c, run: r }) => (
        <li
          key={`${c.id}/${r.deviceId}`}
          className="failure"
          data-device-id={r.deviceId}
          data-status={r.status}
        >
          <div className="failure-head">
            <a className="failure-device" href={`#/devices/${encodeURIComponent(r.deviceId)}`}>
              {r.device}
            </a>
            <RunStatusBadge status={r.status} />
            {r.exitCode !== null && <span className="muted">exit code {r.exitCode}</span>}
            <span className="muted">
              · <Ago iso={r.finishedAt ?? c.createdAt} now={now} />
            </span>
          </div>
          <div className="failure-cmd">
            <a href={`#/commands/${encodeURIComponent(c.id)}`} title={`${c.id} · ${fmtTime(c.createdAt)}`}>
              <code className="cmd-text">{commandText(c)}</code>
            </a>
          </div>
          {runErrorText(r) && <div className="sub">{runErrorText(r)}</div>}
        </li>
      ))}
    </ul>
  );
}

function RecentCommands({ commands, now }: { commands: Command[]; now: number }) {
  return (
    <ul className="recent-commands">
      {commands.map((c) => (
        <li key={c.id} data-command-id={c.id}>
          <div className="recent-head">
            <a href={`#/commands/${encodeURIComponent(c.id)}`} title={c.id}>
              <code className="cmd-text">{commandText(c)}</code>
            </a>
          </div>
          <div className="recent-meta">
            <span className="muted">
              <Ago iso={c.createdAt} now={now} /> · {c.createdBy} · on {targetText(c)}
            </span>
            {c.state === "running" ? <CommandStateBadge state={c.state} /> : null}
            <SummaryBadges summary={c.summary} />
          </div>
        </li>
      ))}
    </ul>
  );
}
