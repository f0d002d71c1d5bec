/** Pieces the settings pages share: loading, roles, telling App the session changed. */
import type { Me, Role } from "@tether/sdk";
import { ErrorNotice, type Poll, PollStatus } from "../../ui";

/** The project whose admins are the server's admins (packages/server/src/accounts.ts DEFAULT_PROJECT). */
export const SERVER_PROJECT = "default";

/** Admin of the default project: may create projects and add existing users to a project. */
export const isServerAdmin = (me: Me) =>
  me.projects.some((p) => p.name === SERVER_PROJECT && p.role === "admin");

/** What each role may do (the server's checks: who(req, role) in packages/server/src/http). */
export const ROLE_HELP: Record<Role, string> = {
  viewer: "sees devices, commands and their output",
  operator: "also enrolls, accepts, revokes and deletes devices, and runs and cancels commands",
  admin: "also runs commands on all devices, manages users and exec users, and reads the audit log",
};

/** App listens: reload who is signed in (projects, roles), optionally switching project first. */
export const SESSION_EVENT = "tether:session";
export function sessionChanged(switchTo?: string): void {
  window.dispatchEvent(new CustomEvent(SESSION_EVENT, { detail: { project: switchTo } }));
}

/**
 * Over what `load` (a `usePoll(…, null)`) shows: its failure (PollStatus, with Retry), the last
 * action's error, what the last action did (`said`), and "Loading…" until the first answer.
 */
export function LoadStatus({
  load,
  actionError = null,
  said = null,
}: {
  load: Poll<unknown>;
  actionError?: unknown;
  said?: string | null;
}) {
  return (
    <>
      <PollStatus poll={load} />
      {actionError !== null && <ErrorNotice error={actionError} />}
      {said && (
        <p className="ok" role="status">
          {said}
        </p>
      )}
      {!load.data && !load.failure && <p className="muted">Loading…</p>}
    </>
  );
}
