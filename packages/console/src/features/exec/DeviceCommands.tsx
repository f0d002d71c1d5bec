/**
 * The device page's commands: the Run panel (operators, accepted devices) and recent commands,
 * each with THIS device's own result (GET /commands?device= carries the device's run).
 */
import { type Command, commandText, type Device } from "@tether/sdk";
import { client } from "../../client";
import { fmtTime } from "../../format";
import { useSession } from "../../session";
import { Ago, PollStatus, useNow, usePoll } from "../../ui";
import { RunStatusBadge } from "./CommandParts";
import { fmtDuration, runErrorText, targetText } from "./exec";
import { RunCommandPanel } from "./RunCommandPanel";

export function DeviceCommands({ device }: { device: Device }) {
  const canOperate = useSession().can("operator");
  const id = device.id;
  const cmds = usePoll(() => client.listCommands({ device: id, limit: 10 }), 5000, [id]);
  const now = useNow();
  return (
    <>
      {canOperate && device.state === "accepted" && <RunCommandPanel device={device} onRan={cmds.reload} />}

      <div className="card">
        <h2>Recent commands</h2>
        <PollStatus poll={cmds} />
        {cmds.data && cmds.data.length === 0 && <p className="muted">No commands have run here.</p>}
        {cmds.data && cmds.data.length > 0 && <OwnResultsTable commands={cmds.data} now={now} />}
        {!cmds.data && !cmds.failure && <p className="muted">Loading…</p>}
      </div>
    </>
  );
}

function OwnResultsTable({ commands, now }: { commands: Command[]; now: number }) {
  return (
    <table className="commands own-results">
      <thead>
        <tr>
          <th>When</th>
          <th>Command</th>
          <th>By</th>
          <th>Result here</th>
          <th>Ran on</th>
        </tr>
      </thead>
      <tbody>
        {commands.map((c) => {
          const run = c.runs?.[0];
          const others = c.summary.total - 1;
          const error = run ? runErrorText(run) : null;
          return (
            <tr key={c.id} data-command-id={c.id}>
              <td className="nowrap">
                <a
                  href={`#/commands/${encodeURIComponent(c.id)}`}
                  title={`${fmtTime(c.createdAt)} · ${c.id}`}
                >
                  <Ago iso={c.createdAt} now={now} />
                </a>
              </td>
              <td>
                <code className="cmd-text">{commandText(c)}</code>
              </td>
              <td className="actor">{c.createdBy}</td>
              <td className="own-result" data-status={run?.status}>
                {run ? (
                  <>
                    <RunStatusBadge status={run.status} />
                    {run.exitCode !== null && (
                      <span className="exit">
                        {" "}
                        exit code <b className="exit-code">{run.exitCode}</b>
                      </span>
                    )}
                    {run.signal && <span className="exit"> signal {run.signal}</span>}
                    {run.durationMs !== null && (
                      <span className="muted"> · {fmtDuration(run.durationMs)}</span>
                    )}
                    {error && <div className="sub run-error">{error}</div>}
                  </>
                ) : (
                  <span className="muted">—</span>
                )}
              </td>
              <td className="ran-on">
                {others > 0 ? (
                  <span title={targetText(c)}>
                    this and {others} other {others === 1 ? "device" : "devices"}
                    <div className="sub">{targetText(c)}</div>
                  </span>
                ) : (
                  <span className="muted">this device</span>
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
