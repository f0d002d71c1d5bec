/** The settings pages' frame: a side list of the sections the signed-in role may open. */
import type { Role } from "@tether/sdk";
import type { ReactNode } from "react";
import { useSession } from "../../session";

interface Section {
  id: string;
  label: string;
  /** Below this role the section is not listed (its route says why instead). */
  minRole: Role;
}

const SECTIONS: readonly Section[] = [
  { id: "users", label: "Users and roles", minRole: "admin" },
  { id: "tokens", label: "API tokens", minRole: "viewer" },
  { id: "projects", label: "Projects", minRole: "viewer" },
  { id: "exec-users", label: "Exec users", minRole: "viewer" },
  { id: "sessions", label: "Sessions", minRole: "admin" },
];

export function SettingsFrame({ current, children }: { current: string; children: ReactNode }) {
  const s = useSession();
  const shown = SECTIONS.filter((x) => s.can(x.minRole));
  return (
    <div className="settings">
      <nav className="settings-nav" aria-label="Settings">
        <div className="settings-nav-title">Settings</div>
        {shown.map((x) => (
          <a
            key={x.id}
            href={`#/settings/${x.id}`}
            className={x.id === current ? "active" : undefined}
            aria-current={x.id === current ? "page" : undefined}
          >
            {x.label}
          </a>
        ))}
        {!s.can("admin") && (
          <p className="settings-nav-note muted">
            Users, roles and the audit log are for admins of {s.project}; you are{" "}
            {s.role === "operator" ? "an" : "a"} {s.role}.
          </p>
        )}
      </nav>
      <section className="settings-body">{children}</section>
    </div>
  );
}
