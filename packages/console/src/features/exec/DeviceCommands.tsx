/** The device page's commands: the Run panel (operators, accepted devices) and recent commands. */
import type { Device } from "@tether/sdk";
import { client } from "../../client";
import { useSession } from "../../session";
import { ErrorBanner, useNow, usePoll } from "../../ui";
import { CommandsTable } from "./CommandParts";
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
        <ErrorBanner error={cmds.error} />
        {cmds.data && cmds.data.length === 0 && <p className="muted">No commands have run here.</p>}
        {cmds.data && cmds.data.length > 0 && <CommandsTable commands={cmds.data} now={now} />}
        {!cmds.data && !cmds.error && <p className="muted">Loading…</p>}
      </div>
    </>
  );
}
