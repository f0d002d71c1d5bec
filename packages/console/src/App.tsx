/** Session handling, hash routing (src/routes.ts) and the page frame. */
import type { Me } from "@tether/sdk";
import { type ReactNode, useCallback, useEffect, useMemo, useState } from "react";
import { client, setProject, setUnauthenticatedHandler } from "./client";
import { SESSION_EVENT } from "./features/admin/shared";
import { LoginPage } from "./Login";
import { DevicePanelsProvider } from "./panels";
import { DEVICE_PANELS, FEATURES, type Match, matchHash } from "./routes";
import { atLeast, SessionProvider, sessionOf } from "./session";
import { ErrorNotice } from "./ui";

const PROJECT_KEY = "tether.project";

function useRoute(): Match | null {
  const [route, setRoute] = useState(() => matchHash(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(matchHash(window.location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

export function App() {
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(true);
  const [bootError, setBootError] = useState<unknown>(null);
  const [defaultError, setDefaultError] = useState<unknown>(null);
  const route = useRoute();
  const session = useMemo(() => (me ? sessionOf(me) : null), [me]);

  const loadMe = useCallback(async () => {
    try {
      const saved = localStorage.getItem(PROJECT_KEY);
      setProject(saved);
      try {
        setMe(await client.me());
      } catch (err: any) {
        // A remembered project we no longer have a role in: fall back to the session's own.
        if (saved && err?.status !== 401) {
          localStorage.removeItem(PROJECT_KEY);
          setProject(null);
          setMe(await client.me());
        } else throw err;
      }
      setBootError(null);
    } catch (err: any) {
      setMe(null);
      if (err?.status !== 401) setBootError(err);
    } finally {
      setChecking(false);
    }
  }, []);

  useEffect(() => {
    setUnauthenticatedHandler(() => setMe(null));
    void loadMe();
    // Settings pages changed who we are (a project created or deleted, a new default) or ask
    // to switch project (features/admin/shared.tsx sessionChanged).
    const onSession = (e: Event) => {
      const project = (e as CustomEvent<{ project?: string }>).detail?.project;
      if (project) localStorage.setItem(PROJECT_KEY, project);
      void loadMe();
    };
    window.addEventListener(SESSION_EVENT, onSession);
    return () => {
      setUnauthenticatedHandler(null);
      window.removeEventListener(SESSION_EVENT, onSession);
    };
  }, [loadMe]);

  if (checking) return <div className="boot muted">Loading…</div>;
  if (!me || !session)
    return (
      <>
        <ErrorNotice error={bootError} />
        <LoginPage
          onLogin={(m) => {
            localStorage.removeItem(PROJECT_KEY);
            setProject(null);
            setMe(m);
          }}
        />
      </>
    );

  const signOut = async () => {
    try {
      await client.logout();
    } catch {
      // The cookie is cleared or already gone either way.
    }
    setMe(null);
  };

  const switchProject = async (name: string) => {
    localStorage.setItem(PROJECT_KEY, name);
    await loadMe();
  };

  // Where the user's sign-ins land: theirs to choose (PUT /api/v1/me/default-project).
  const makeDefault = async () => {
    try {
      const r = await client.setDefaultProject(me.project);
      setMe({ ...me, defaultProject: r.defaultProject });
    } catch (err) {
      setDefaultError(err);
    }
  };

  let page: ReactNode;
  if (!route)
    page = (
      <p className="empty">
        No page here. <a href="#/">Go to the overview</a>.
      </p>
    );
  else if (!session.can(route.minRole)) page = <Forbidden what={route.route.forbidden ?? "No access."} />;
  else page = route.route.render(route.params);

  return (
    <SessionProvider value={session}>
      <div className="app">
        <header className="topbar">
          <a className="brand" href="#/">
            <span className="logo" aria-hidden="true" />
            Tether
          </a>
          <nav>
            {FEATURES.filter((f) => f.nav && atLeast(me.role, f.minRole)).map((f) => {
              const active = route?.feature === f;
              return (
                <a
                  key={f.id}
                  href={f.nav?.href}
                  className={active ? "active" : undefined}
                  aria-current={active ? "page" : undefined}
                >
                  {f.nav?.label}
                </a>
              );
            })}
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
            {me.projects.length > 1 && me.defaultProject !== me.project && (
              <button type="button" title="Sign in to this project from now on" onClick={makeDefault}>
                Make default
              </button>
            )}
            <ErrorNotice error={defaultError} compact />
            <span className="user">
              {me.username} <span className="muted">({me.role})</span>
            </span>
            <button type="button" onClick={signOut}>
              Sign out
            </button>
          </div>
        </header>
        <main key={me.project}>
          <DevicePanelsProvider value={DEVICE_PANELS}>{page}</DevicePanelsProvider>
        </main>
      </div>
    </SessionProvider>
  );
}

function Forbidden({ what }: { what: string }) {
  return <p className="empty">{what}</p>;
}
