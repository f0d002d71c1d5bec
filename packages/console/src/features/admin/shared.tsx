/** Pieces the settings pages share: loading, confirmations, copy, telling App the session changed. */
import type { Me, Role } from "@tether/sdk";
import { type ReactNode, useCallback, useEffect, useRef, useState } from "react";

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

/** Load once (and on `reload`); the error is kept raw for ErrorNotice. */
export function useLoad<T>(load: () => Promise<T>) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const ref = useRef(load);
  ref.current = load;
  const seq = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++seq.current;
    try {
      const v = await ref.current();
      if (mine !== seq.current) return;
      setData(v);
      setError(null);
    } catch (err) {
      if (mine === seq.current) setError(err);
    }
  }, []);
  useEffect(() => {
    void reload();
    return () => {
      seq.current++;
    };
  }, [reload]);
  return { data, error, reload };
}

/** Run an action: busy while it runs, its error kept for ErrorNotice. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = useCallback(async (fn: () => Promise<void>): Promise<boolean> => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      return true;
    } catch (err) {
      setError(err);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, setError, run };
}

/** A button that asks first: the question, then "Yes, …" and Cancel in its place. */
export function ConfirmButton({
  label,
  question,
  yes,
  onConfirm,
  busy,
  className = "danger-outline",
}: {
  label: string;
  question: ReactNode;
  yes: string;
  onConfirm: () => Promise<unknown> | unknown;
  busy?: boolean;
  className?: string;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" className={`small ${className}`} disabled={busy} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  return (
    <div className="confirm">
      <span>{question}</span>
      <div className="buttons">
        <button
          type="button"
          className="small danger"
          disabled={busy}
          onClick={async () => {
            await onConfirm();
            setAsking(false);
          }}
        >
          {yes}
        </button>
        <button type="button" className="small" disabled={busy} onClick={() => setAsking(false)}>
          Cancel
        </button>
      </div>
    </div>
  );
}

/** Copy `text` to the clipboard, saying whether it worked. */
export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  return (
    <>
      <button
        type="button"
        onClick={async () => {
          try {
            await navigator.clipboard.writeText(text);
            setState("copied");
          } catch {
            setState("failed");
          }
        }}
      >
        {label}
      </button>
      {state === "copied" && (
        <span className="ok" role="status">
          Copied
        </span>
      )}
      {state === "failed" && (
        <span className="error small" role="alert">
          Copy failed; select the text instead
        </span>
      )}
    </>
  );
}

/** "1 API token", "2 API tokens". */
export const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
