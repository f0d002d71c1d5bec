/**
 * Settings: users and roles (admins), API tokens, projects, exec users. Each page shows what
 * the signed-in role may do there, and says why when it is nothing.
 */
import type { ReactNode } from "react";
import { useSession } from "../../session";
import type { Feature } from "../feature";
import { SessionSettingsPage } from "../terminal/SessionSettingsPage";
import { ExecUsersPage } from "./ExecUsersPage";
import { ProjectsPage } from "./ProjectsPage";
import { SettingsFrame } from "./SettingsFrame";
import { TokensPage } from "./TokensPage";
import { UsersPage } from "./UsersPage";

const PAGES: Record<string, () => ReactNode> = {
  users: () => <UsersPage />,
  tokens: () => <TokensPage />,
  projects: () => <ProjectsPage />,
  "exec-users": () => <ExecUsersPage />,
  sessions: () => <SessionSettingsPage />,
};

/** #/settings: admins land on users, everyone else on their API tokens. */
function SettingsHome() {
  const admin = useSession().can("admin");
  const id = admin ? "users" : "tokens";
  return <SettingsFrame current={id}>{PAGES[id]()}</SettingsFrame>;
}

export const admin: Feature = {
  id: "admin",
  minRole: "viewer",
  nav: { label: "Settings", href: "#/settings" },
  routes: [
    { path: "settings", render: () => <SettingsHome /> },
    ...Object.entries(PAGES).map(([id, page]) => ({
      path: `settings/${id}`,
      render: () => <SettingsFrame current={id}>{page()}</SettingsFrame>,
    })),
  ],
};
