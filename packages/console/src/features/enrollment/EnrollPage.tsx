/**
 * Enroll devices: create a token and show the one-line agent command; the devices waiting
 * for an operator (key fingerprint, accept/reject); the open tokens, and apart from them,
 * collapsed, the used-up and expired ones.
 */
import type { CreatedEnrollmentToken, EnrollmentToken } from "@tether/sdk";
import { type FormEvent, useState } from "react";
import { client } from "../../client";
import { ago, fmtTime, parseDuration, parseLabels } from "../../format";
import {
  Ago,
  ConfirmButton,
  CopyOnce,
  FormCard,
  LabelChips,
  type Poll,
  PollStatus,
  useAction,
  useNow,
  usePoll,
} from "../../ui";
import { PendingReview } from "../devices/DeviceActions";

export function EnrollPage() {
  const [labels, setLabels] = useState("");
  const [expiry, setExpiry] = useState("1h");
  const [uses, setUses] = useState("1");
  const [autoAccept, setAutoAccept] = useState(false);
  const act = useAction();
  const [created, setCreated] = useState<CreatedEnrollmentToken | null>(null);
  const tokens = usePoll(() => client.listEnrollmentTokens(), 5000);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    act.setError(null);
    let parsed: Record<string, string>;
    try {
      parsed = parseLabels(labels);
    } catch (err) {
      act.setError(`Labels: ${(err as Error).message}`);
      return;
    }
    const expiresInSeconds = parseDuration(expiry);
    if (expiresInSeconds === null) {
      act.setError("Expiry: use a number with s, m, h, d or w, e.g. 1h or 7d");
      return;
    }
    const n = Number(uses);
    if (!Number.isInteger(n) || n < 1) {
      act.setError("Uses: a whole number, 1 or more");
      return;
    }
    await act.run(async () => {
      setCreated(
        await client.createEnrollmentToken({ labels: parsed, expiresInSeconds, uses: n, autoAccept }),
      );
      void tokens.reload();
    });
  };

  return (
    <section>
      <header className="page-head">
        <h1>Enroll devices</h1>
      </header>
      <FormCard
        title="New enrollment token"
        formClassName="form enroll-form"
        onSubmit={submit}
        busy={act.busy}
        submit="Create token"
        busyText="Creating…"
        error={act.error}
        after={created && <CreatedCommand created={created} />}
      >
        <label>
          <span>Labels</span>
          <input
            name="labels"
            placeholder="site=lab role=arm"
            value={labels}
            onChange={(e) => setLabels(e.target.value)}
          />
          <small>
            key=value pairs, separated by spaces or commas; devices enrolled with the token get them.
          </small>
        </label>
        <label>
          <span>Expires in</span>
          <input name="expiry" value={expiry} onChange={(e) => setExpiry(e.target.value)} />
          <small>e.g. 30m, 1h, 7d</small>
        </label>
        <label>
          <span>Uses</span>
          <input name="uses" type="number" min={1} value={uses} onChange={(e) => setUses(e.target.value)} />
          <small>how many devices may enroll with it</small>
        </label>
        <label className="check">
          <input type="checkbox" checked={autoAccept} onChange={(e) => setAutoAccept(e.target.checked)} />
          <span>Auto-accept devices enrolled with this token</span>
        </label>
      </FormCard>

      <PendingDevices />

      <TokenLists tokens={tokens} />
    </section>
  );
}

/** Usable now: uses left and not expired (a token is expired from its expiry instant on). */
const isOpen = (t: EnrollmentToken, now: number) => t.usesLeft > 0 && Date.parse(t.expiresAt) > now;

/** Open tokens; used-up and expired ones apart, collapsed. */
function TokenLists({ tokens: poll }: { tokens: Poll<EnrollmentToken[]> }) {
  const now = useNow();
  const tokens = poll.data;
  const open = (tokens ?? []).filter((t) => isOpen(t, now));
  const closed = (tokens ?? []).filter((t) => !isOpen(t, now));
  const remove = async (id: number) => {
    try {
      await client.deleteEnrollmentToken(id);
    } finally {
      void poll.reload();
    }
  };
  return (
    <div className="card tokens">
      <h2>Open tokens</h2>
      <PollStatus poll={poll} />
      {!tokens && !poll.failure && <p className="muted">Loading…</p>}
      {tokens && open.length === 0 && (
        <p className="muted">No open tokens: create one above to enroll a device.</p>
      )}
      {open.length > 0 && <TokenTable tokens={open} now={now} onDelete={remove} />}
      {closed.length > 0 && (
        <details className="closed-tokens">
          <summary>Used or expired ({closed.length})</summary>
          <TokenTable tokens={closed} now={now} onDelete={remove} closed />
        </details>
      )}
    </div>
  );
}

function TokenTable({
  tokens,
  now,
  onDelete,
  closed = false,
}: {
  tokens: EnrollmentToken[];
  now: number;
  onDelete: (id: number) => Promise<void>;
  closed?: boolean;
}) {
  return (
    <table className={closed ? "token-table closed" : "token-table"}>
      <thead>
        <tr>
          <th>ID</th>
          <th>Labels</th>
          <th>{closed ? "Status" : "Uses left"}</th>
          <th>Auto-accept</th>
          <th>{closed ? "Expiry" : "Expires"}</th>
          <th>Created by</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {tokens.map((t) => (
          <tr key={t.id} data-token-id={t.id}>
            <td>{t.id}</td>
            <td>
              <LabelChips labels={t.labels} />
            </td>
            <td>
              {closed ? (t.usesLeft <= 0 ? "used up" : "expired") : `${t.usesLeft} of ${t.uses + t.usesLeft}`}
            </td>
            <td>{t.autoAccept ? "yes" : "no"}</td>
            <td>
              <time title={fmtTime(t.expiresAt)}>{ago(t.expiresAt, now)}</time>
            </td>
            <td>{t.createdBy}</td>
            <td className="actions">
              <ConfirmButton
                label="Delete…"
                question={`Delete token ${t.id}? Devices can no longer enroll with it.`}
                yes="Yes, delete"
                onConfirm={() => onDelete(t.id)}
              />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * Devices enrolled without auto-accept wait here too: the operator who just ran the agent
 * command checks the key fingerprint the agent logged (shown once, in the check box) and
 * accepts or rejects it without leaving the page.
 */
function PendingDevices() {
  const devices = usePoll(() => client.listDevices(), 2000);
  const now = useNow();
  const pending = (devices.data ?? [])
    .filter((d) => d.state === "pending")
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  if (pending.length === 0 && !devices.failure) return null;
  return (
    <div className="card pending-devices">
      <h2>Waiting for acceptance</h2>
      <PollStatus poll={devices} />
      {pending.length > 0 && (
        <>
          <p className="muted">
            Compare each key fingerprint with the one the agent logged on the device before accepting it.
          </p>
          <table>
            <thead>
              <tr>
                <th>Device</th>
                <th>Labels</th>
                <th>Enrolled</th>
                <th>Check, then accept</th>
              </tr>
            </thead>
            <tbody>
              {pending.map((d) => (
                <tr key={d.id} data-device-id={d.id} className="row-pending">
                  <td className="name">
                    <a href={`#/devices/${encodeURIComponent(d.id)}`}>{d.name}</a>
                    <div className="sub mono">{d.id}</div>
                  </td>
                  <td>
                    <LabelChips labels={d.labels} />
                  </td>
                  <td>
                    <Ago iso={d.createdAt} now={now} />
                  </td>
                  <td>
                    <PendingReview device={d} onChanged={devices.reload} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}

function CreatedCommand({ created }: { created: CreatedEnrollmentToken }) {
  return (
    <div className="created">
      <p>Run this on the device (the token is shown only once; it expires {fmtTime(created.expiresAt)}):</p>
      <CopyOnce text={created.command} />
    </div>
  );
}
