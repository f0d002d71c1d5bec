/**
 * API tokens for scripts and the CLI: each acts as its creator in this project. Everyone lists,
 * creates and revokes their own; admins see and may revoke everyone's in the project.
 */
import type { ApiToken } from "@tether/sdk";
import { type FormEvent, useState } from "react";
import { client } from "../../client";
import { fmtTime } from "../../format";
import { useSession } from "../../session";
import { Ago, ConfirmButton, CopyOnce, FormCard, useAction, useNow, usePoll } from "../../ui";
import { LoadStatus } from "./shared";

const EXPIRIES: { label: string; seconds?: number }[] = [
  { label: "1 day", seconds: 86400 },
  { label: "7 days", seconds: 7 * 86400 },
  { label: "30 days", seconds: 30 * 86400 },
  { label: "90 days", seconds: 90 * 86400 },
  { label: "1 year", seconds: 365 * 86400 },
  { label: "never" },
];

interface Created {
  id: number;
  name: string;
  token: string;
  expiresAt?: string | null;
}

export function TokensPage() {
  const s = useSession();
  const tokens = usePoll(() => client.listApiTokens(), null);
  const act = useAction();
  const [created, setCreated] = useState<Created | null>(null);
  const [revoked, setRevoked] = useState<string | null>(null);
  const now = useNow(30_000);
  const admin = s.can("admin");
  const mine = (t: ApiToken) => t.username === s.me.username;

  return (
    <>
      <header className="page-head">
        <h1>API tokens</h1>
        <span className="summary">
          For scripts and the CLI. A token acts as the user who made it, in {s.project}, with their role.
        </span>
      </header>

      <NewToken
        onCreated={(c) => {
          setCreated(c);
          setRevoked(null);
          void tokens.reload();
        }}
      />

      {created && (
        <div className="card token-once" role="status">
          <h2>API token “{created.name}” created</h2>
          <p className="warn-text">
            Copy it now: it is shown only this once and cannot be seen again. Anyone who has it can act as you
            in {s.project}.
          </p>
          <CopyOnce text={created.token} secret testId="new-api-token" />
          <p className="hint muted">
            Use it as <code>Authorization: Bearer …</code>, or with{" "}
            <code>tether login --url {window.location.origin} --token …</code>.
            {created.expiresAt
              ? ` It stops working ${fmtTime(created.expiresAt)}.`
              : " It does not expire; revoke it when it is no longer needed."}
          </p>
          <div className="buttons">
            <button type="button" className="small" onClick={() => setCreated(null)}>
              I have copied it
            </button>
          </div>
        </div>
      )}

      <div className="card">
        <h2>{admin ? `Tokens in ${s.project}` : "Your tokens"}</h2>
        <LoadStatus load={tokens} actionError={act.error} said={revoked} />
        {tokens.data && tokens.data.length === 0 && (
          <p className="muted">No API tokens yet. Create one above for a script or the CLI.</p>
        )}
        {tokens.data && tokens.data.length > 0 && (
          <table className="api-tokens">
            <thead>
              <tr>
                <th>Name</th>
                {admin && <th>User</th>}
                <th>Created</th>
                <th>Last used</th>
                <th>Expires</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {tokens.data.map((t) => (
                <tr key={t.id} data-token-name={t.name} className={t.expired ? "row-revoked" : undefined}>
                  <td>
                    <strong>{t.name}</strong>
                  </td>
                  {admin && (
                    <td>
                      {mine(t) ? (
                        <>
                          {t.username} <span className="muted">(you)</span>
                        </>
                      ) : (
                        t.username
                      )}
                    </td>
                  )}
                  <td>
                    <Ago iso={t.createdAt} now={now} />
                  </td>
                  <td>
                    {t.lastUsedAt ? (
                      <Ago iso={t.lastUsedAt} now={now} />
                    ) : (
                      <span className="muted">never</span>
                    )}
                  </td>
                  <td>
                    {t.expired ? (
                      <span className="badge state-revoked" title={fmtTime(t.expiresAt ?? null)}>
                        expired
                      </span>
                    ) : t.expiresAt ? (
                      <Ago iso={t.expiresAt} now={now} />
                    ) : (
                      <span className="muted">never</span>
                    )}
                  </td>
                  <td className="row-actions">
                    <ConfirmButton
                      label="Revoke…"
                      question={`Revoke “${t.name}”${mine(t) ? "" : ` of ${t.username}`}? Scripts using it stop working at once.`}
                      yes="Yes, revoke"
                      busy={act.busy}
                      onConfirm={() =>
                        act.run(async () => {
                          await client.revokeApiToken(t.id);
                          setRevoked(`API token “${t.name}” revoked.`);
                          if (created?.id === t.id) setCreated(null);
                          await tokens.reload();
                        })
                      }
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </>
  );
}

function NewToken({ onCreated }: { onCreated: (c: Created) => void }) {
  const [name, setName] = useState("");
  const [expiry, setExpiry] = useState("30 days");
  const act = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const seconds = EXPIRIES.find((x) => x.label === expiry)?.seconds;
    await act.run(async () => {
      const c = await client.createApiToken(name.trim(), seconds);
      setName("");
      onCreated(c);
    });
  };
  return (
    <FormCard
      title="New API token"
      onSubmit={submit}
      busy={act.busy}
      submit="Create token"
      busyText="Creating…"
      error={act.error}
    >
      <label>
        <span>Name</span>
        <input
          name="token-name"
          required
          maxLength={64}
          placeholder="e.g. ci-deploy"
          value={name}
          onChange={(e) => setName(e.target.value)}
        />
      </label>
      <label>
        <span>Expires after</span>
        <select
          name="token-expiry"
          aria-label="Expires after"
          value={expiry}
          onChange={(e) => setExpiry(e.target.value)}
        >
          {EXPIRIES.map((x) => (
            <option key={x.label} value={x.label}>
              {x.label}
            </option>
          ))}
        </select>
      </label>
    </FormCard>
  );
}
