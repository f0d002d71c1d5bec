/**
 * Users and roles in the current project (admins): who has which role, add a user, change a
 * role, remove from the project, end all of a user's access. The server's rules apply
 * (packages/server/src/http/account-routes.ts); this page only shows what they allow.
 */
import { plural, ROLE_RANK, type Role, type User } from "@tether/sdk";
import { type FormEvent, useState } from "react";
import { client } from "../../client";
import { fmtTime } from "../../format";
import { useSession } from "../../session";
import { ConfirmButton, CopyOnce, FormCard, useAction, usePoll } from "../../ui";
import { isServerAdmin, LoadStatus, ROLE_HELP } from "./shared";

const ROLES = Object.keys(ROLE_RANK) as Role[];

/** What the last action did, in a sentence (and a password shown once). */
interface Outcome {
  text: string;
  password?: string;
}

export function UsersPage() {
  const s = useSession();
  if (!s.can("admin"))
    return (
      <>
        <h1>Users and roles</h1>
        <p className="empty">
          Managing users needs the admin role in {s.project}; you are {s.role === "operator" ? "an" : "a"}{" "}
          {s.role}. Ask an admin of {s.project} to add someone or change a role.
        </p>
      </>
    );
  return <Users />;
}

function Users() {
  const s = useSession();
  const users = usePoll(() => client.listUsers(), null);
  const act = useAction();
  const [outcome, setOutcome] = useState<Outcome | null>(null);

  const done = async (o: Outcome) => {
    setOutcome(o);
    await users.reload();
  };

  return (
    <>
      <header className="page-head">
        <h1>Users and roles</h1>
        <span className="summary">Who may use project {s.project}, and with which role.</span>
      </header>

      <NewUser onCreated={(o) => void done(o)} serverAdmin={isServerAdmin(s.me)} project={s.project} />

      {outcome && (
        <div className="card outcome" role="status">
          <p>{outcome.text}</p>
          {outcome.password && (
            <>
              <p className="warn-text">
                This password is shown only once. Give it to the user through a safe channel; they sign in to
                the console with it.
              </p>
              <CopyOnce text={outcome.password} secret />
            </>
          )}
          <div className="buttons">
            <button type="button" className="small" onClick={() => setOutcome(null)}>
              Dismiss
            </button>
          </div>
        </div>
      )}

      <div className="card">
        <h2>Members of {s.project}</h2>
        <LoadStatus load={users} actionError={act.error} />
        {users.data && (
          <table className="users-table">
            <thead>
              <tr>
                <th>User</th>
                <th>Role</th>
                <th>Account since</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => (
                <UserRow
                  key={u.id}
                  user={u}
                  project={s.project}
                  self={u.username === s.me.username}
                  busy={act.busy}
                  run={(fn) =>
                    act.run(async () => {
                      await done({ text: await fn() });
                    })
                  }
                />
              ))}
            </tbody>
          </table>
        )}
        <dl className="kv compact role-help">
          {ROLES.map((r) => (
            <div key={r} className="role-help-row">
              <dt>{r}</dt>
              <dd>{ROLE_HELP[r]}</dd>
            </div>
          ))}
        </dl>
      </div>
    </>
  );
}

function UserRow({
  user: u,
  project,
  self,
  busy,
  run,
}: {
  user: User;
  project: string;
  self: boolean;
  busy: boolean;
  run: (fn: () => Promise<string>) => Promise<boolean>;
}) {
  const role = u.roles[project] ?? Object.values(u.roles)[0];
  return (
    <tr data-username={u.username}>
      <td className="name">
        <strong>{u.username}</strong>
        {self && <span className="muted"> (you)</span>}
      </td>
      <td>
        {self ? (
          <span className="badge" title="You cannot change your own role; another admin can">
            {role}
          </span>
        ) : (
          <select
            aria-label={`Role of ${u.username}`}
            value={role}
            disabled={busy}
            onChange={(e) => {
              const next = e.target.value as Role;
              void run(async () => {
                await client.setUserRole(u.username, next);
                return `${u.username} is now ${next === "operator" || next === "admin" ? "an" : "a"} ${next} in ${project}.`;
              });
            }}
          >
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        )}
      </td>
      <td>{fmtTime(u.createdAt)}</td>
      <td className="row-actions">
        {!self && (
          <>
            <ConfirmButton
              label="Remove…"
              question={`Remove ${u.username} from ${project}? Their API tokens here stop working; their account stays.`}
              yes={`Yes, remove ${u.username}`}
              busy={busy}
              onConfirm={() =>
                run(async () => {
                  await client.removeUser(u.username);
                  return `${u.username} was removed from ${project}.`;
                })
              }
            />
            <ConfirmButton
              label="Revoke all access…"
              question={`End every sign-in and API token of ${u.username}, in every project? They keep their roles and password and can sign in again.`}
              yes="Yes, revoke access"
              busy={busy}
              onConfirm={() =>
                run(async () => {
                  const r = await client.revokeUserAccess(u.username);
                  return `Ended ${plural(r.sessions, "sign-in")} and revoked ${plural(r.apiTokens, "API token")} of ${u.username}.`;
                })
              }
            />
          </>
        )}
      </td>
    </tr>
  );
}

function NewUser({
  onCreated,
  serverAdmin,
  project,
}: {
  onCreated: (o: Outcome) => void;
  serverAdmin: boolean;
  project: string;
}) {
  const [username, setUsername] = useState("");
  const [role, setRole] = useState<Role>("operator");
  const [password, setPassword] = useState("");
  const act = useAction();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const name = username.trim();
    await act.run(async () => {
      const r = await client.createUser({ username: name, role, ...(password ? { password } : {}) });
      setUsername("");
      setPassword("");
      const a = r.role === "operator" || r.role === "admin" ? "an" : "a";
      onCreated(
        r.password
          ? { text: `${r.username} was created as ${a} ${r.role} in ${project}.`, password: r.password }
          : password
            ? {
                text: `${r.username} was created as ${a} ${r.role} in ${project}, with the password you chose.`,
              }
            : { text: `${r.username} is now ${a} ${r.role} in ${project}.` },
      );
    });
  };

  return (
    <FormCard
      title="Add a user"
      onSubmit={submit}
      busy={act.busy}
      submit="Add user"
      busyText="Adding…"
      error={act.error}
      hint={
        <p className="hint muted">
          A new user gets this role in {project}; leave the password empty and one is generated and shown
          once.
          {serverAdmin
            ? " An existing user of another project is added with this role (their password does not change)."
            : " Adding a user who already exists in another project needs the server admin."}
        </p>
      }
    >
      <label>
        <span>Username</span>
        <input
          name="new-username"
          required
          pattern="[A-Za-z0-9._\-]{1,64}"
          title="letters, digits, . _ - (up to 64)"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
        />
      </label>
      <label>
        <span>Role</span>
        <select
          name="new-role"
          aria-label="Role"
          value={role}
          onChange={(e) => setRole(e.target.value as Role)}
        >
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </label>
      <label>
        <span>Initial password</span>
        <input
          name="new-password"
          type="password"
          autoComplete="new-password"
          minLength={8}
          placeholder="empty: generate one"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </label>
    </FormCard>
  );
}
