/**
 * Settings → Sessions (admins): whether the project's terminal and SSH sessions are recorded,
 * and where port forwarding may go (GET/PUT /api/v1/project/tunnels, docs/protocol.md §17.5).
 */
import { DEFAULT_FORWARD_ALLOW, DESTINATION_PATTERN, type TunnelSettings } from "@tether/protocol/tunnel";
import { type FormEvent, useEffect, useState } from "react";
import { useSession } from "../../session";
import { ErrorNotice, PollStatus, SaveRow, useAction, usePoll } from "../../ui";
import { getTunnelSettings, setTunnelSettings } from "./api";

const DESTINATION = new RegExp(DESTINATION_PATTERN);
const MAX_ENTRIES = 256;

/** The allow-list field: one entry per line (commas and spaces also separate). */
function parseAllow(text: string): { list: string[] } | { error: string } {
  const list = [...new Set(text.split(/[\s,]+/).filter(Boolean))];
  const bad = list.find((x) => !DESTINATION.test(x));
  if (bad)
    return {
      error: `“${bad}” is not a destination. Write HOST:PORT, HOST:LOW-HIGH or HOST:* (IPv6 in brackets, e.g. [::1]:22).`,
    };
  if (list.length > MAX_ENTRIES) return { error: `At most ${MAX_ENTRIES} destinations.` };
  return { list };
}

export function SessionSettingsPage() {
  const s = useSession();
  if (!s.can("admin"))
    return (
      <>
        <h1>Sessions</h1>
        <p className="empty">
          Session recording and port-forwarding destinations are set by admins of {s.project}; you are{" "}
          {s.role === "operator" ? "an" : "a"} {s.role}.
        </p>
      </>
    );
  return <Settings />;
}

function Settings() {
  const s = useSession();
  const load = usePoll(() => getTunnelSettings(), null);
  const act = useAction();
  const [record, setRecord] = useState(false);
  const [allow, setAllow] = useState("");
  const [said, setSaid] = useState<string | null>(null);

  const reset = (t: TunnelSettings) => {
    setRecord(t.record);
    setAllow(t.forwardAllow.join("\n"));
  };
  useEffect(() => {
    if (load.data) {
      setRecord(load.data.record);
      setAllow(load.data.forwardAllow.join("\n"));
    }
  }, [load.data]);

  const saved = load.data;
  const parsed = parseAllow(allow);
  const changed =
    !!saved &&
    (record !== saved.record ||
      !("list" in parsed) ||
      parsed.list.join("\n") !== saved.forwardAllow.join("\n"));

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setSaid(null);
    if ("error" in parsed) return act.setError(parsed.error);
    void act.run(async () => {
      const r = await setTunnelSettings({ record, forwardAllow: parsed.list });
      reset(r);
      await load.reload();
      setSaid(
        `Saved. Sessions in ${s.project} are ${r.record ? "recorded" : "not recorded"}; port forwarding may reach ${
          r.forwardAllow.length ? r.forwardAllow.join(", ") : "nothing"
        }.`,
      );
    });
  };

  return (
    <>
      <header className="page-head">
        <h1>Sessions</h1>
        <span className="summary">Terminals, SSH logins and port forwards in {s.project}.</span>
      </header>
      <div className="card">
        <PollStatus poll={load} />
        {!load.data && !load.failure && <p className="muted">Loading…</p>}
        {load.data && (
          <form className="form session-settings" onSubmit={submit}>
            <label className="check">
              <input type="checkbox" checked={record} onChange={(e) => setRecord(e.target.checked)} />{" "}
              <span>
                <b>Record sessions</b>
                <span className="muted small">
                  {" "}
                  — what terminals and SSH logins show is kept (asciicast) for playback on the Sessions page
                  and for <code>tether sessions export</code>.
                </span>
              </span>
            </label>
            <label>
              <span>
                <b>Port forwarding may reach</b>
              </span>
              <textarea
                aria-label="Port forwarding may reach"
                className="mono"
                rows={5}
                value={allow}
                onChange={(e) => setAllow(e.target.value)}
                spellCheck={false}
              />
              <small className="muted">
                One destination per line, as seen from the device: HOST:PORT, HOST:LOW-HIGH or HOST:*. Names
                are compared as written (no DNS). Leave it empty to turn port forwarding off. The default is
                the device's own loopback: {DEFAULT_FORWARD_ALLOW.join(", ")}.
              </small>
            </label>
            <SaveRow changed={changed} busy={act.busy} said={said} onUndo={() => saved && reset(saved)} />
            <ErrorNotice error={act.error} compact />
          </form>
        )}
        <p className="muted small">
          How many sessions may be open per device and per user, the idle timeout and the longest session are
          server settings (<code>tether server --tunnel-*</code>).
        </p>
      </div>
    </>
  );
}
