/**
 * Accept / Reject for pending devices (after showing what to verify) and Revoke (with an
 * inline confirmation) for accepted ones. Shared by the list and the device page.
 */
import type { Device } from "@tether/sdk";
import { type ReactNode, useState } from "react";
import { client, errorText } from "../../client";
import { useSession } from "../../session";
import { InlineError } from "../../ui";

const ACTIONS = {
  accept: (id: string) => client.acceptDevice(id),
  reject: (id: string) => client.rejectDevice(id),
  revoke: (id: string) => client.revokeDevice(id),
};

export function DeviceActions({ device, onChanged }: { device: Device; onChanged: () => void }) {
  const canOperate = useSession().can("operator");
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const run = async (action: keyof typeof ACTIONS) => {
    setBusy(true);
    setError(null);
    try {
      await ACTIONS[action](device.id);
      setConfirming(false);
      onChanged();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  let body: ReactNode = null;
  if (device.state === "pending") {
    body = (
      <div className="verify">
        <div className="verify-title">Check before accepting:</div>
        <dl className="kv compact">
          <dt>Fingerprint</dt>
          <dd>
            <code className="fingerprint">{device.fingerprint}</code>
          </dd>
          <dt>Hostname</dt>
          <dd className="hostname">{device.hostname}</dd>
          <dt>From</dt>
          <dd className="source">{device.sourceAddress}</dd>
        </dl>
        {canOperate && (
          <div className="buttons">
            <button type="button" className="primary" disabled={busy} onClick={() => run("accept")}>
              Accept
            </button>
            <button type="button" className="danger" disabled={busy} onClick={() => run("reject")}>
              Reject
            </button>
          </div>
        )}
      </div>
    );
  } else if (device.state === "accepted" && canOperate) {
    body = confirming ? (
      <div className="confirm">
        <span>Revoke this device? It is disconnected and its key can never enroll again.</span>
        <div className="buttons">
          <button type="button" className="danger" disabled={busy} onClick={() => run("revoke")}>
            Yes, revoke
          </button>
          <button type="button" disabled={busy} onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      </div>
    ) : (
      <button type="button" className="danger-outline" onClick={() => setConfirming(true)}>
        Revoke…
      </button>
    );
  }

  return (
    <div className="actions">
      {body}
      <InlineError error={error} />
    </div>
  );
}
