/**
 * The project's exec users: the accounts on a device that `exec --user` (and the console's Run
 * panel) may name. Everyone sees the list; admins change it.
 */
import { type FormEvent, useEffect, useState } from "react";
import { client } from "../../client";
import { useSession } from "../../session";
import { ErrorNotice, SaveRow, useAction, usePoll } from "../../ui";
import { LoadStatus } from "./shared";

/** The server's rule (packages/protocol ProjectSettings): a POSIX user name. */
const EXEC_USER = /^[a-z_][a-z0-9_.-]{0,31}$/;

export function ExecUsersPage() {
  const s = useSession();
  const admin = s.can("admin");
  const users = usePoll(() => client.getExecUsers(), null);
  const act = useAction();
  const [list, setList] = useState<string[]>([]);
  const [adding, setAdding] = useState("");
  const [bad, setBad] = useState<string | null>(null);
  const [said, setSaid] = useState<string | null>(null);

  useEffect(() => {
    if (users.data) setList(users.data);
  }, [users.data]);

  const saved = users.data ?? [];
  const changed = list.length !== saved.length || list.some((u, i) => u !== saved[i]);

  const add = (e: FormEvent) => {
    e.preventDefault();
    const names = adding.split(/[\s,]+/).filter(Boolean);
    const wrong = names.find((n) => !EXEC_USER.test(n));
    if (wrong) {
      setBad(
        `“${wrong}” is not a user name: lower-case letters, digits, _ . - (up to 32), starting with a letter or _`,
      );
      return;
    }
    setBad(null);
    setSaid(null);
    setList([...new Set([...list, ...names])].sort());
    setAdding("");
  };

  const save = () =>
    act.run(async () => {
      setBad(null);
      const r = await client.setExecUsers(list);
      await users.reload();
      setSaid(
        r.length
          ? `Saved: commands in ${s.project} may run as ${r.join(", ")}.`
          : `Saved: commands in ${s.project} run as the agent's own user only.`,
      );
    });

  return (
    <>
      <header className="page-head">
        <h1>Exec users</h1>
      </header>
      <div className="card">
        <p className="lead">
          The users a command in {s.project} may run as on a device, named with{" "}
          <code>tether exec --user NAME</code>. With none, commands run as the user the agent runs as.
        </p>
        <LoadStatus load={users} />
        {users.data && (
          <ul className="exec-users" aria-label="Exec users">
            {list.length === 0 && <li className="muted">none: only the agent's own user</li>}
            {list.map((u) => (
              <li key={u} className="chip">
                {u}
                {admin && (
                  <button
                    type="button"
                    className="chip-remove"
                    aria-label={`Remove ${u}`}
                    title={`Remove ${u}`}
                    onClick={() => setList(list.filter((x) => x !== u))}
                  >
                    ×
                  </button>
                )}
              </li>
            ))}
          </ul>
        )}
        {admin && users.data && (
          <>
            <form className="form inline-form" onSubmit={add}>
              <label>
                <span>Add users</span>
                <input
                  name="exec-user"
                  placeholder="e.g. deploy root"
                  value={adding}
                  onChange={(e) => {
                    setAdding(e.target.value);
                    setBad(null);
                  }}
                />
              </label>
              <div className="buttons">
                <button type="submit">Add</button>
              </div>
            </form>
            {bad && (
              <div className="error small" role="alert">
                {bad}
              </div>
            )}
            <SaveRow
              changed={changed}
              busy={act.busy}
              said={said}
              onSave={() => void save()}
              onUndo={() => setList(saved)}
            />
            {act.error !== null && <ErrorNotice error={act.error} />}
          </>
        )}
        {!admin && (
          <p className="muted">
            Only admins of {s.project} can change this list; you are {s.role === "operator" ? "an" : "a"}{" "}
            {s.role}.
          </p>
        )}
      </div>
    </>
  );
}
