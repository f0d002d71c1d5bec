/** Who is signed in, their role and project: React context instead of props on every page. */
import type { Me, Role } from "@tether/sdk";
import { ROLE_RANK } from "@tether/sdk";
import { createContext, useContext } from "react";

export interface Session {
  me: Me;
  /** The project the console acts in (the session's, or the one picked in the top bar). */
  project: string;
  role: Role;
  /** True if the signed-in role is `role` or above. */
  can(role: Role): boolean;
}

export function sessionOf(me: Me): Session {
  return { me, project: me.project, role: me.role, can: (r) => atLeast(me.role, r) };
}

export function atLeast(have: Role, need: Role): boolean {
  return ROLE_RANK[have] >= ROLE_RANK[need];
}

const SessionContext = createContext<Session | null>(null);
export const SessionProvider = SessionContext.Provider;

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error("useSession outside a signed-in page");
  return s;
}
