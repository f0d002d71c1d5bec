/**
 * Device actions. Safe ones first: a pending device's review (what to verify, then Accept, with
 * Reject secondary). Destructive ones last and quiet: Revoke and Delete live in the device
 * page's danger zone, each behind a confirmation that names the device (ConfirmButton, boxed).
 */
import type { Device } from "@tether/sdk";
import { client } from "../../client";
import { useSession } from "../../session";
import { ConfirmButton, ErrorNotice, useAction } from "../../ui";

/** Fingerprint, hostname and source address, then Accept (primary) and Reject (secondary). */
export function PendingReview({ device, onChanged }: { device: Device; onChanged: () => void }) {
  const canOperate = useSession().can("operator");
  const { busy, error, run: act } = useAction();
  if (device.state !== "pending") return null;

  const run = (action: "accept" | "reject") =>
    act(async () => {
      await (action === "accept" ? client.acceptDevice(device.id) : client.rejectDevice(device.id));
      onChanged();
    });

  return (
    <div className="actions">
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
            <button type="button" className="quiet-danger" disabled={busy} onClick={() => run("reject")}>
              Reject
            </button>
          </div>
        )}
      </div>
      <ErrorNotice error={error} compact />
    </div>
  );
}

/** The device page's last card: Revoke (accepted devices) and Delete (operators). */
export function DangerZone({ device, onChanged }: { device: Device; onChanged: () => void }) {
  const canOperate = useSession().can("operator");
  if (!canOperate) return null;
  const name = device.name;
  return (
    <div className="card danger-zone">
      <h2>Remove the device</h2>
      <div className="danger-actions">
        {device.state === "accepted" && (
          <div className="danger-action">
            <p className="muted small">
              Revoke: disconnect it now and block its key for good. Its record and history stay.
            </p>
            <ConfirmButton
              boxed
              className="quiet-danger"
              label="Revoke…"
              question={`Revoke ${name}? It is disconnected at once and its key can never enroll again.`}
              yes={`Revoke ${name}`}
              onConfirm={async () => {
                await client.revokeDevice(device.id);
                onChanged();
              }}
            />
          </div>
        )}
        <div className="danger-action">
          <p className="muted small">
            Delete: remove it and its labels from the server
            {device.state === "accepted" ? " (it is revoked first)" : ""}. The audit log keeps what happened.
          </p>
          <ConfirmButton
            boxed
            className="quiet-danger"
            label="Delete…"
            question={`Delete ${name}? This cannot be undone.`}
            yes={`Delete ${name}`}
            onConfirm={async () => {
              await client.deleteDevice(device.id);
              window.location.hash = "#/devices";
            }}
          />
        </div>
      </div>
    </div>
  );
}
