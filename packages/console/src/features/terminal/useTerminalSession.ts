/**
 * A terminal page's session: the xterm.js terminal in `hostRef`'s element wired to a
 * TerminalLink. Opens a new session on a device (`open`) or watches a live one (`join`);
 * `restart` starts over after the link ended (a new session, or joining again).
 *
 * Who may type: the owner, and a participant the owner granted (the participants list says
 * so: our own entry turns "writer"). Only the owner sizes the PTY (RESIZE after each fit);
 * watchers show the session's size instead, so lines wrap where they wrap for the owner.
 */
import type { Participant } from "@tether/protocol/tunnel";
import { useCallback, useEffect, useRef, useState } from "react";
import { useSession } from "../../session";
import { terminalUrl } from "./api";
import { type LinkEnd, openTerminalLink, type ReadyMessage, type TerminalLink } from "./terminal-link";
import type { XtermHost } from "./xterm-host";
import { loadXterm } from "./xterm-loader";

export type TerminalTarget =
  | { kind: "open"; device: string; user?: string }
  | { kind: "join"; session: string };

export type LinkState = "connecting" | "ready" | "ended";

export interface TerminalSessionView {
  state: LinkState;
  ready: ReadyMessage | null;
  participants: Participant[];
  end: LinkEnd | null;
  /** The user ended it here (End session / Stop watching). */
  closedByMe: boolean;
  /** What we may do now. */
  role: "owner" | "writer" | "viewer" | null;
  /** The latest notice from the server, or ours (for NOTICE_MS). */
  notice: string | null;
  /** The device tried to write the clipboard (OSC 52) at least once; it was ignored. */
  clipboardRefused: boolean;
  /** The terminal's size now (shown in the header, briefly useful when resizing). */
  size: { cols: number; rows: number } | null;
}

const TERM = "xterm-256color";
/** How long a notice from the server stays up. */
const NOTICE_MS = 10_000;

/** Our own effective role: the owner stays the owner; others are writers once granted. */
function roleOf(ready: ReadyMessage | null, list: Participant[], me: string): TerminalSessionView["role"] {
  if (!ready) return null;
  if (ready.role === "owner") return "owner";
  const mine = list.filter((p) => p.user === me);
  if (mine.length === 0) return ready.role;
  return mine.some((p) => p.role === "writer" || p.role === "owner") ? "writer" : "viewer";
}

const latin1 = (s: string): Uint8Array => {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
};

export function useTerminalSession(target: TerminalTarget) {
  const session = useSession();
  const hostRef = useRef<HTMLDivElement>(null);
  const xterm = useRef<XtermHost | null>(null);
  const link = useRef<TerminalLink | null>(null);
  const roleRef = useRef<TerminalSessionView["role"]>(null);
  const noticeTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(
    () => () => {
      if (noticeTimer.current) clearTimeout(noticeTimer.current);
    },
    [],
  );
  /** Output was drawn: a restart keeps it above a separator instead of clearing. */
  const wrote = useRef(false);
  const [attempt, setAttempt] = useState(0);
  const [view, setView] = useState<TerminalSessionView>({
    state: "connecting",
    ready: null,
    participants: [],
    end: null,
    closedByMe: false,
    role: null,
    notice: null,
    clipboardRefused: false,
    size: null,
  });
  const owner = target.kind === "open";
  const targetKey =
    target.kind === "open" ? `open:${target.device}:${target.user ?? ""}` : `join:${target.session}`;
  const targetRef = useRef(target);
  targetRef.current = target;

  // The terminal lives as long as the page; links come and go inside it.
  const [host, setHost] = useState<XtermHost | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  useEffect(() => {
    const el = hostRef.current;
    if (!el) return;
    let gone = false;
    let made: XtermHost | null = null;
    let subs: { dispose(): void }[] = [];
    loadXterm().then(
      ({ createXterm }) => {
        if (gone) return;
        made = createXterm(el, {
          fit: owner,
          readOnly: true,
          onClipboardRefused: () =>
            setView((v) => (v.clipboardRefused ? v : { ...v, clipboardRefused: true })),
        });
        subs = [
          made.term.onData((d) => link.current?.input(d)),
          made.term.onBinary((d) => link.current?.input(latin1(d))),
          made.term.onResize(({ cols, rows }) => {
            if (roleRef.current === "owner") link.current?.resize(cols, rows);
            setView((v) => ({ ...v, size: { cols, rows } }));
          }),
        ];
        const { cols, rows } = made.term;
        setView((v) => ({ ...v, size: { cols, rows } }));
        xterm.current = made;
        setHost(made);
      },
      (err) => {
        if (!gone) setLoadError(err);
      },
    );
    return () => {
      gone = true;
      for (const s of subs) s.dispose();
      link.current?.close();
      link.current = null;
      made?.dispose();
      xterm.current = null;
      setHost(null);
    };
  }, [owner]);

  // One link per attempt.
  // biome-ignore lint/correctness/useExhaustiveDependencies: targetKey stands for the target
  useEffect(() => {
    if (!host) return;
    const t = targetRef.current;
    host.fit();
    const term = host.term;
    term.options.disableStdin = true;
    roleRef.current = null;
    setView((v) => ({
      ...v,
      state: "connecting",
      ready: null,
      participants: [],
      end: null,
      closedByMe: false,
      role: null,
      notice: null,
    }));
    const apply = (ready: ReadyMessage | null, list: Participant[]) => {
      const role = roleOf(ready, list, session.me.username);
      roleRef.current = role;
      term.options.disableStdin = role === null || role === "viewer";
      return role;
    };
    const first =
      t.kind === "open"
        ? {
            type: "open" as const,
            device: t.device,
            pty: { cols: term.cols, rows: term.rows, term: TERM },
            ...(t.user ? { user: t.user } : {}),
          }
        : { type: "join" as const, session: t.session };
    const l = openTerminalLink(terminalUrl(session.project), first, {
      onReady(m) {
        if (link.current !== l) return;
        setView((v) => {
          const role = apply(m, v.participants);
          return { ...v, state: "ready", ready: m, role };
        });
        if (m.role === "owner") {
          host.fit();
          l.resize(term.cols, term.rows);
        } else if (m.pty) term.resize(m.pty.cols, m.pty.rows);
        term.focus();
      },
      onParticipants(list) {
        if (link.current !== l) return;
        setView((v) => {
          const role = apply(v.ready, list);
          return { ...v, participants: list, role };
        });
      },
      onOutput(bytes, done) {
        if (link.current !== l) return done();
        wrote.current = true;
        term.write(bytes, done);
      },
      onSize(cols, rows) {
        // Watchers show the session at the size its typist chose; the owner keeps fitting its window.
        if (link.current !== l || l.owner) return;
        term.resize(cols, rows);
      },
      onNotice(message) {
        if (link.current !== l) return;
        setView((v) => ({ ...v, notice: message }));
        // A notice says what just happened ("alice let you type"); it goes after a while.
        if (noticeTimer.current) clearTimeout(noticeTimer.current);
        noticeTimer.current = setTimeout(
          () => setView((v) => (v.notice === message ? { ...v, notice: null } : v)),
          NOTICE_MS,
        );
      },
      onEnd(end) {
        if (link.current !== l) return;
        roleRef.current = null;
        term.options.disableStdin = true;
        term.blur();
        // Nobody is connected through this page any more.
        setView((v) => ({ ...v, state: "ended", end, role: null, participants: [] }));
      },
    });
    link.current = l;
    return () => {
      l.close();
      if (link.current === l) link.current = null;
    };
  }, [host, attempt, targetKey, session.project, session.me.username]);

  /** Start over: a new session (open), or join the same one again. */
  const restart = useCallback(() => {
    const term = xterm.current?.term;
    // A new session keeps the old output above a separator; watching again starts clean.
    if (targetRef.current.kind === "join") term?.reset();
    else if (term && wrote.current) term.write("\r\n\x1b[0m\x1b[2m──── new session ────\x1b[0m\r\n");
    wrote.current = false;
    setAttempt((n) => n + 1);
  }, []);

  /** End it here: the owner's End session, a watcher's Stop watching. */
  const close = useCallback(() => {
    const l = link.current;
    if (!l) return;
    l.close();
    link.current = null;
    roleRef.current = null;
    if (xterm.current) xterm.current.term.options.disableStdin = true;
    setView((v) => ({
      ...v,
      state: "ended",
      role: null,
      participants: [],
      closedByMe: true,
      end: { kind: "closed", closeCode: 1000, reason: "", beforeReady: v.ready === null },
    }));
  }, []);

  const grant = useCallback((user: string, write: boolean) => link.current?.grant(user, write), []);

  return { hostRef, view, loadError, restart, close, grant };
}
