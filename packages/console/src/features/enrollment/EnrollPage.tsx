/** Create enrollment tokens and show the one-line agent command; list the open tokens. */
import type { CreatedEnrollmentToken } from "@tether/sdk";
import { type FormEvent, useState } from "react";
import { client, errorText } from "../../client";
import { fmtTime, parseDuration, parseLabels } from "../../format";
import { ErrorBanner, InlineError, LabelChips, usePoll } from "../../ui";

export function EnrollPage() {
  const [labels, setLabels] = useState("");
  const [expiry, setExpiry] = useState("1h");
  const [uses, setUses] = useState("1");
  const [autoAccept, setAutoAccept] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<CreatedEnrollmentToken | null>(null);
  const tokens = usePoll(() => client.listEnrollmentTokens(), null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    let parsed: Record<string, string>;
    try {
      parsed = parseLabels(labels);
    } catch (err) {
      setError(`Labels: ${(err as Error).message}`);
      return;
    }
    const expiresInSeconds = parseDuration(expiry);
    if (expiresInSeconds === null) {
      setError("Expiry: use a number with s, m, h, d or w, e.g. 1h or 7d");
      return;
    }
    const n = Number(uses);
    if (!Number.isInteger(n) || n < 1) {
      setError("Uses: a whole number, 1 or more");
      return;
    }
    setBusy(true);
    try {
      setCreated(
        await client.createEnrollmentToken({ labels: parsed, expiresInSeconds, uses: n, autoAccept }),
      );
      void tokens.reload();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <header className="page-head">
        <h1>Enroll devices</h1>
      </header>
      <div className="card">
        <h2>New enrollment token</h2>
        <form className="form enroll-form" onSubmit={submit}>
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
          <div className="buttons">
            <button type="submit" className="primary" disabled={busy}>
              {busy ? "Creating…" : "Create token"}
            </button>
          </div>
        </form>
        <ErrorBanner error={error} />
        {created && <CreatedCommand created={created} />}
      </div>

      <div className="card">
        <h2>Open tokens</h2>
        <ErrorBanner error={tokens.error} />
        {tokens.data && tokens.data.length === 0 && <p className="muted">No tokens.</p>}
        {tokens.data && tokens.data.length > 0 && (
          <table>
            <thead>
              <tr>
                <th>ID</th>
                <th>Labels</th>
                <th>Used</th>
                <th>Left</th>
                <th>Auto-accept</th>
                <th>Expires</th>
                <th>Created by</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {tokens.data.map((t) => (
                <tr key={t.id}>
                  <td>{t.id}</td>
                  <td>
                    <LabelChips labels={t.labels} />
                  </td>
                  <td>{t.uses}</td>
                  <td>{t.usesLeft}</td>
                  <td>{t.autoAccept ? "yes" : "no"}</td>
                  <td className={Date.parse(t.expiresAt) < Date.now() ? "muted" : ""}>
                    {fmtTime(t.expiresAt)}
                  </td>
                  <td>{t.createdBy}</td>
                  <td>
                    <button
                      type="button"
                      className="small danger-outline"
                      onClick={async () => {
                        try {
                          await client.deleteEnrollmentToken(t.id);
                        } catch (err) {
                          setError(errorText(err));
                        }
                        void tokens.reload();
                      }}
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </section>
  );
}

function CreatedCommand({ created }: { created: CreatedEnrollmentToken }) {
  const [copy, setCopy] = useState<"idle" | "copied" | "failed">("idle");
  return (
    <div className="created">
      <p>Run this on the device (the token is shown only once; it expires {fmtTime(created.expiresAt)}):</p>
      <div className="command-row">
        <code className="command">{created.command}</code>
        <button
          type="button"
          onClick={async () => {
            try {
              await navigator.clipboard.writeText(created.command);
              setCopy("copied");
            } catch {
              setCopy("failed");
            }
          }}
        >
          Copy
        </button>
        {copy === "copied" && (
          <span className="ok" role="status">
            Copied
          </span>
        )}
        <InlineError as="span" error={copy === "failed" ? "Copy failed; select the text instead" : null} />
      </div>
    </div>
  );
}
