/** Session handling, hash routing and the page frame. */
import { type ReactNode, useCallback, useEffect, useState } from "react";
import { api, errorText, setProject, setUnauthenticatedHandler } from "./api";
import { AuditPage } from "./pages/Audit";
import { CommandPage } from "./pages/Command";
import { CommandsPage } from "./pages/Commands";
import { DevicePage } from "./pages/Device";
import { DevicesPage } from "./pages/Devices";
import { EnrollPage } from "./pages/Enroll";
import { LoginPage } from "./pages/Login";
import type { Me, Role } from "./types";

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };
const PROJECT_KEY = "tether.project";

type Route =
  | { page: "devices" }
  | { page: "device"; id: string }
  | { page: "enroll" }
  | { page: "audit" }
  | { page: "commands" }
  | { page: "command"; id: string }
  | { page: "unknown"; path: string };

function parseHash(hash: string): Route {
  const path = hash.replace(/^#/, "") || "/devices";
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "devices" && parts.length === 1) return { page: "devices" };
  if (parts[0] === "devices" && parts.length === 2)
    return { page: "device", id: decodeURIComponent(parts[1]) };
  if (parts[0] === "enroll" && parts.length === 1) return { page: "enroll" };
  if (parts[0] === "audit" && parts.length === 1) return { page: "audit" };
  if (parts[0] === "commands" && parts.length === 1) return { page: "commands" };
  if (parts[0] === "commands" && parts.length === 2)
    return { page: "command", id: decodeURIComponent(parts[1]) };
  return { page: "unknown", path };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(window.location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

export function App() {
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(true);
  const [bootError, setBootError] = useState<string | null>(null);
  const route = useRoute();

  const loadMe = useCallback(async () => {
    try {
      const saved = localStorage.getItem(PROJECT_KEY);
      setProject(saved);
      try {
        setMe(await api.me());
      } catch (err: any) {
        // A remembered project we no longer have a role in: fall back to the session's own.
        if (saved && err?.status !== 401) {
          localStorage.removeItem(PROJECT_KEY);
          setProject(null);
          setMe(await api.me());
        } else throw err;
      }
      setBootError(null);
    } catch (err: any) {
      setMe(null);
      if (err?.status !== 401) setBootError(errorText(err));
    } finally {
      setChecking(false);
    }
  }, []);

  useEffect(() => {
    setUnauthenticatedHandler(() => setMe(null));
    void loadMe();
    return () => setUnauthenticatedHandler(null);
  }, [loadMe]);

  if (checking) return <div className="boot muted">Loading…</div>;
  if (!me)
    return (
      <>
        {bootError && (
          <div className="error banner" role="alert">
            {bootError}
          </div>
        )}
        <LoginPage
          onLogin={(m) => {
            localStorage.removeItem(PROJECT_KEY);
            setProject(null);
            setMe(m);
          }}
        />
      </>
    );

  const canOperate = RANK[me.role] >= RANK.operator;
  const isAdmin = me.role === "admin";

  const signOut = async () => {
    try {
      await api.logout();
    } catch {
      // The cookie is cleared or already gone either way.
    }
    setMe(null);
  };

  const switchProject = async (name: string) => {
    localStorage.setItem(PROJECT_KEY, name);
    await loadMe();
  };

  let page: ReactNode;
  switch (route.page) {
    case "devices":
      page = <DevicesPage canOperate={canOperate} />;
      break;
    case "device":
      page = <DevicePage key={route.id} id={route.id} canOperate={canOperate} />;
      break;
    case "commands":
      page = <CommandsPage canOperate={canOperate} isAdmin={isAdmin} />;
      break;
    case "command":
      page = <CommandPage key={route.id} id={route.id} canOperate={canOperate} />;
      break;
    case "enroll":
      page = canOperate ? <EnrollPage /> : <Forbidden what="Enrolling devices needs the operator role." />;
      break;
    case "audit":
      page = isAdmin ? <AuditPage /> : <Forbidden what="The audit log is for admins." />;
      break;
    default:
      page = (
        <p className="empty">
          No page here. <a href="#/devices">Go to devices</a>.
        </p>
      );
  }

  const nav = (href: string, label: string, active: boolean) => (
    <a href={href} className={active ? "active" : undefined} aria-current={active ? "page" : undefined}>
      {label}
    </a>
  );

  return (
    <div className="app">
      <header className="topbar">
        <a className="brand" href="#/devices">
          <span className="logo" aria-hidden="true" />
          Tether
        </a>
        <nav>
          {nav("#/devices", "Devices", route.page === "devices" || route.page === "device")}
          {nav("#/commands", "Commands", route.page === "commands" || route.page === "command")}
          {canOperate && nav("#/enroll", "Enroll", route.page === "enroll")}
          {isAdmin && nav("#/audit", "Audit", route.page === "audit")}
        </nav>
        <div className="who">
          {me.projects.length > 1 ? (
            <select
              aria-label="Project"
              value={me.project}
              onChange={(e) => void switchProject(e.target.value)}
            >
              {me.projects.map((p) => (
                <option key={p.name} value={p.name}>
                  {p.name} ({p.role})
                </option>
              ))}
            </select>
          ) : (
            <span className="project">{me.project}</span>
          )}
          <span className="user">
            {me.username} <span className="muted">({me.role})</span>
          </span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main key={me.project}>{page}</main>
    </div>
  );
}

function Forbidden({ what }: { what: string }) {
  return <p className="empty">{what}</p>;
}
