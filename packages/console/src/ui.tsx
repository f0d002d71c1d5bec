/**
 * Small shared pieces: polling with staleness, the one error display (ErrorNotice), presence,
 * chips, badges, the hash query string, actions and confirmations, copy, form cards, a pager.
 */
import { ApiError, clock, type Device, presenceStatus, presenceText } from "@tether/sdk";
import {
  createContext,
  type FormEvent,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useRef,
  useState,
  useSyncExternalStore,
} from "react";
import { ago, fmtTime } from "./format";

// --- errors ------------------------------------------------------------------------------

/** What the console says for a code, when the server's own message is not the better sentence. */
const SENTENCES: Record<string, string> = {
  TETHER_ERR_UNREACHABLE: "The server cannot be reached right now.",
  TETHER_ERR_HTTP: "The server gave an unexpected answer.",
  TETHER_ERR_UNAUTHENTICATED: "Your session has ended. Sign in again.",
  TETHER_ERR_FORBIDDEN: "Your role in this project does not allow this. A project admin can change it.",
  TETHER_ERR_BAD_ORIGIN: "The server refused a request that did not come from this console. Reload the page.",
  TETHER_ERR_PROJECT_NOT_FOUND: "This project does not exist, or you no longer have a role in it.",
  TETHER_ERR_NOT_FOUND: "The server does not know this request. The console may be newer than the server.",
  TETHER_ERR_DEVICE_NOT_FOUND: "This device does not exist in this project (it may have been deleted).",
  TETHER_ERR_COMMAND_NOT_FOUND: "This command does not exist in this project.",
  TETHER_ERR_DEVICE_OFFLINE: "The device is offline, so it cannot answer now.",
  TETHER_ERR_DEVICE_TIMEOUT: "The device did not answer in time.",
  TETHER_ERR_STORE_UNAVAILABLE: "The server cannot reach its database right now. Try again shortly.",
  TETHER_ERR_INTERNAL: "Something went wrong on the server.",
  TETHER_ERR_TOO_MANY_STREAMS: "You have too many live command pages open. Close some and try again.",
  TETHER_ERR_LOGIN_FAILED: "The username or password is wrong.",
};

/** Codes whose server message already says what is wrong in words (shown as the sentence). */
const SERVER_WORDS = new Set([
  "TETHER_ERR_BAD_REQUEST",
  "TETHER_ERR_BAD_SELECTOR",
  "TETHER_ERR_BAD_DEVICE_NAME",
  "TETHER_ERR_DEVICE_AMBIGUOUS",
  "TETHER_ERR_DEVICE_STATE",
  "TETHER_ERR_NO_DEVICES_MATCH",
  "TETHER_ERR_EXEC_USER_NOT_ALLOWED",
  "TETHER_ERR_PAYLOAD_TOO_LARGE",
  "TETHER_ERR_USER_EXISTS",
  "TETHER_ERR_PROJECT_EXISTS",
  "TETHER_ERR_USER_NOT_FOUND",
  "TETHER_ERR_TOKEN_NOT_FOUND",
]);

const sentence = (s: string): string => {
  const t = s.trim();
  if (!t) return t;
  const first = t[0].toUpperCase() + t.slice(1);
  return /[.!?…]$/.test(first) ? first : `${first}.`;
};

/**
 * An error in the console's words: `message` is a sentence for the operator; `detail` carries
 * what only support needs (the TETHER_ERR_… code, the server's own words when replaced).
 */
function describeError(error: unknown): {
  message: string;
  detail: string | null;
  code: string | null;
} {
  let code: string | null = null;
  let raw: string;
  let retryAfter: number | undefined;
  if (error instanceof ApiError) {
    code = error.code;
    raw = error.message;
    retryAfter = error.retryAfterSeconds;
  } else if (error instanceof Error) {
    raw = error.message;
    code =
      typeof (error as any).code === "string" && /^TETHER_ERR_/.test((error as any).code)
        ? (error as any).code
        : null;
  } else raw = String(error ?? "");
  if (code === "TETHER_ERR_RATE_LIMITED")
    return {
      message:
        retryAfter !== undefined
          ? `Too many attempts. Try again in ${retryAfter} s.`
          : "Too many attempts. Try again in a moment.",
      detail: code,
      code,
    };
  const mapped = code && !SERVER_WORDS.has(code) ? SENTENCES[code] : undefined;
  if (mapped) {
    const extra = raw && code === "TETHER_ERR_UNREACHABLE" ? raw.replace(/^.*?:\s*(?=[^:]*$)/, "") : raw;
    return { message: mapped, detail: [extra, code].filter(Boolean).join(" · "), code };
  }
  return { message: sentence(raw || "Something went wrong."), detail: code, code };
}

/** True for failures that say the server is away (not that it refused): data is then stale. */
function isOutage(error: unknown): boolean {
  if (!(error instanceof ApiError)) return false;
  return error.status === 0 || error.status === 502 || error.status === 503 || error.status === 504;
}

/**
 * The one error display: a sentence, a small detail line with the code, and Retry when given.
 * `compact` for inline use (forms, actions).
 */
export function ErrorNotice({
  error,
  onRetry,
  compact,
}: {
  error: unknown;
  onRetry?: () => void;
  compact?: boolean;
}) {
  if (error === null || error === undefined || error === "") return null;
  const { message, detail, code } = describeError(error);
  return (
    <div
      className={`error error-notice${compact ? " small" : ""}`}
      role="alert"
      data-code={code ?? undefined}
    >
      <div className="error-line">
        <span className="error-message">{message}</span>
        {onRetry && (
          <button type="button" className="small" onClick={() => onRetry()}>
            Retry
          </button>
        )}
      </div>
      {detail && <div className="error-detail mono">{detail}</div>}
    </div>
  );
}

// --- polling and staleness ---------------------------------------------------------------

/**
 * Load now and every `ms` while mounted (once when `ms` is null); `reload` forces a refresh
 * (e.g. after an action).
 */
export function usePoll<T>(load: () => Promise<T>, ms: number | null, deps: unknown[] = []) {
  const [state, setState] = useState<{ data: T | null; failure: unknown; asOf: number | null }>({
    data: null,
    failure: null,
    asOf: null,
  });
  const loadRef = useRef(load);
  loadRef.current = load;
  const seq = useRef(0);

  const reload = useCallback(async () => {
    const mine = ++seq.current;
    try {
      const v = await loadRef.current();
      if (mine === seq.current) setState({ data: v, failure: null, asOf: Date.now() });
    } catch (err) {
      if (mine === seq.current) setState((s) => ({ ...s, failure: err }));
    }
  }, []);

  useEffect(() => {
    setState({ data: null, failure: null, asOf: null });
    void reload();
    if (ms === null) return;
    const t = setInterval(() => void reload(), ms);
    return () => {
      clearInterval(t);
      seq.current++;
    };
  }, [ms, reload, ...deps]);

  const { data, failure, asOf } = state;
  return {
    data,
    /** The last load's failure (null once a load succeeds again). */
    failure,
    /** When `data` was loaded. */
    asOf,
    /** `data` is from before the latest failure: show it greyed, as of `asOf`. */
    stale: data !== null && failure !== null,
    /** Loads again by itself (`ms` given): a failure then only makes `data` stale for a while. */
    polling: ms !== null,
    reload,
  };
}

export type Poll<T> = ReturnType<typeof usePoll<T>>;

/** Re-render every `ms` so relative times ("12s ago") stay current. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

const StaleContext = createContext<number | null>(null);

/** Inside: live values (presence dots, counts) are drawn greyed "as of" `asOf`. */
export function StaleScope({ asOf, children }: { asOf: number | null; children: ReactNode }) {
  return (
    <StaleContext.Provider value={asOf}>
      <div
        className={asOf !== null ? "stale-scope is-stale" : "stale-scope"}
        data-stale={asOf !== null || undefined}
      >
        {children}
      </div>
    </StaleContext.Provider>
  );
}

/** The time live state was last known, inside a stale scope; null when it is current. */
export function useStaleAsOf(): number | null {
  return useContext(StaleContext);
}

/**
 * What a polled page shows about its loading: nothing while fine; "as of HH:MM — server
 * unreachable, retrying" while showing older data; the error with Retry when there is none
 * (or when nothing retries by itself: a load without an interval).
 */
export function PollStatus({
  poll,
}: {
  poll: Pick<Poll<unknown>, "data" | "failure" | "asOf" | "reload"> & { polling?: boolean };
}) {
  // Inside a scope already marked stale, the page's one notice says it.
  const scopeStale = useStaleAsOf() !== null;
  if (!poll.failure || (scopeStale && poll.data !== null)) return null;
  if (poll.data !== null && poll.asOf !== null && poll.polling !== false)
    return <StaleNotice asOf={poll.asOf} error={poll.failure} />;
  return <ErrorNotice error={poll.failure} onRetry={() => void poll.reload()} />;
}

function StaleNotice({ asOf, error }: { asOf: number; error: unknown }) {
  const { detail, code } = describeError(error);
  const why = isOutage(error) ? "server unreachable" : describeError(error).message.replace(/\.$/, "");
  return (
    <div className="stale-notice" role="status" data-code={code ?? undefined}>
      <div>
        <span className="stale-icon" aria-hidden="true">
          ⟳
        </span>{" "}
        As of {clock(asOf)} — {why}, retrying. What is shown may be out of date.
      </div>
      {detail && <div className="error-detail mono">{detail}</div>}
    </div>
  );
}

// --- the hash query string ---------------------------------------------------------------

function hashQuery(): string {
  const h = window.location.hash;
  const i = h.indexOf("?");
  return i < 0 ? "" : h.slice(i + 1);
}

function subscribeHash(on: () => void): () => void {
  window.addEventListener("hashchange", on);
  return () => window.removeEventListener("hashchange", on);
}

/** The query of the location hash ("#/devices?selector=site%3Dlab") and a setter that keeps the path. */
export function useHashQuery(): [URLSearchParams, (change: Record<string, string | null>) => void] {
  const q = useSyncExternalStore(subscribeHash, hashQuery);
  const set = useCallback((change: Record<string, string | null>) => {
    const h = window.location.hash || "#/";
    const i = h.indexOf("?");
    const path = i < 0 ? h : h.slice(0, i);
    const p = new URLSearchParams(i < 0 ? "" : h.slice(i + 1));
    for (const [k, v] of Object.entries(change)) {
      if (v === null || v === "") p.delete(k);
      else p.set(k, v);
    }
    const s = p.toString();
    window.location.hash = s ? `${path}?${s}` : path;
  }, []);
  return [new URLSearchParams(q), set];
}

// --- devices -----------------------------------------------------------------------------

const PRESENCE_ICON: Record<string, string> = {
  online: "●",
  offline: "○",
  pending: "◐",
  rejected: "⊘",
  revoked: "⊘",
};

/**
 * A device's status as an operator says it (online / offline / pending / rejected / revoked),
 * greyed with "as of HH:MM" inside a stale scope.
 */
export function Presence({ device }: { device: Pick<Device, "state" | "online"> }) {
  const status = presenceStatus(device);
  const asOf = useStaleAsOf();
  return (
    <span
      className={`presence presence-${status}${asOf !== null ? " stale" : ""}`}
      data-status={status}
      data-stale={asOf !== null || undefined}
      title={asOf !== null ? `as of ${clock(asOf)}; the server is not answering` : undefined}
    >
      <span aria-hidden="true">{PRESENCE_ICON[status] ?? "○"}</span> {status}
      {asOf !== null && <span className="stale-mark">?</span>}
    </span>
  );
}

/** "online since 09:12 (5m 3s)", "last seen 4m ago", "waiting for approval (2m 5s)" (the SDK's words). */
export function PresenceText({
  device,
  now,
}: {
  device: Pick<Device, "state" | "online" | "onlineSince" | "lastSeenAt" | "createdAt">;
  now: number;
}) {
  const asOf = useStaleAsOf();
  const when = device.online
    ? device.onlineSince
    : device.state === "pending"
      ? device.createdAt
      : device.lastSeenAt;
  return (
    <span className={`presence-text${asOf !== null ? " stale" : ""}`} title={fmtTime(when)}>
      {presenceText(device, asOf ?? now)}
      {asOf !== null && <span className="muted"> (as of {clock(asOf)})</span>}
    </span>
  );
}

/** A connection-history row's "still connected". */
export function Online({ online }: { online: boolean }) {
  const stale = useStaleAsOf() !== null;
  return online ? (
    <span className={`online on${stale ? " stale" : ""}`}>
      <span aria-hidden="true">●</span> online
    </span>
  ) : (
    <span className="online off">
      <span aria-hidden="true">○</span> offline
    </span>
  );
}

export function LabelChips({ labels }: { labels: Record<string, string> }) {
  const entries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return <span className="muted">—</span>;
  return (
    <span className="chips">
      {entries.map(([k, v]) => (
        <span className="chip" key={k} title={`${k}=${v}`}>
          {k}={v}
        </span>
      ))}
    </span>
  );
}

export function FactsSummary({ facts }: { facts: Device["facts"] }) {
  if (!facts) return <span className="muted">no facts yet</span>;
  return (
    <span className="facts">
      <span>{facts.os || "?"}</span>
      <span className="sep">/</span>
      <span>{facts.arch || "?"}</span>
      <span className="sep">·</span>
      <span>agent {facts.agentVersion || "?"}</span>
    </span>
  );
}

export function Ago({ iso, now }: { iso: string | null; now: number }) {
  return <time title={fmtTime(iso)}>{ago(iso, now)}</time>;
}

// --- forms -------------------------------------------------------------------------------

/** The filter form of list pages: a text field applied on submit, and optionally Refresh. */
export function FilterForm({
  label,
  placeholder,
  onApply,
  onRefresh,
  value: initial = "",
}: {
  label: string;
  placeholder: string;
  onApply: (value: string) => void;
  onRefresh?: () => void;
  /**
   * The applied value (e.g. from the URL), the field's start. To follow it when it changes
   * elsewhere, render with `key={value}`.
   */
  value?: string;
}) {
  const [value, setValue] = useState(initial);
  return (
    <form
      className="filter"
      onSubmit={(e) => {
        e.preventDefault();
        onApply(value.trim());
      }}
    >
      <input
        aria-label={label}
        placeholder={placeholder}
        value={value}
        onChange={(e) => setValue(e.target.value)}
      />
      <button type="submit">Filter</button>
      {initial && (
        <button
          type="button"
          onClick={() => {
            setValue("");
            onApply("");
          }}
        >
          Clear
        </button>
      )}
      {onRefresh && (
        <button type="button" onClick={() => void onRefresh()}>
          Refresh
        </button>
      )}
    </form>
  );
}

/** "Page 2 of 5" with previous/next; nothing when everything fits on one page. */
export function Pager({
  page,
  pages,
  total,
  from,
  to,
  onPage,
}: {
  page: number;
  pages: number;
  total: number;
  from: number;
  to: number;
  onPage: (page: number) => void;
}) {
  if (pages <= 1) return null;
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        ← Previous
      </button>
      <span className="pager-text">
        Page {page} of {pages}{" "}
        <span className="muted">
          ({from}–{to} of {total})
        </span>
      </span>
      <button type="button" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next →
      </button>
    </nav>
  );
}

// --- actions -----------------------------------------------------------------------------

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

/**
 * A button that asks first: the question, then `yes` and Cancel in its place. It closes when
 * `onConfirm` is done; when that throws, it stays open with the error.
 * `boxed`: a full-size confirmation in its own box (the device's danger zone); else small
 * buttons that fit a table row.
 */
export function ConfirmButton({
  label,
  question,
  yes,
  onConfirm,
  busy: outerBusy,
  className = "danger-outline",
  boxed = false,
}: {
  label: string;
  question: ReactNode;
  yes: string;
  onConfirm: () => Promise<unknown> | unknown;
  busy?: boolean;
  className?: string;
  boxed?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  const act = useAction();
  const busy = outerBusy || act.busy;
  const small = boxed ? "" : "small ";
  if (!asking)
    return (
      <button type="button" className={small + className} disabled={busy} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  const body = (
    <>
      <span>{question}</span>
      <div className="buttons">
        <button
          type="button"
          className={`${small}danger`}
          disabled={busy}
          onClick={async () => {
            const done = await act.run(async () => {
              await onConfirm();
            });
            if (done) setAsking(false);
          }}
        >
          {boxed && act.busy ? "Working…" : yes}
        </button>
        <button
          type="button"
          className={boxed ? undefined : "small"}
          disabled={busy}
          onClick={() => setAsking(false)}
        >
          Cancel
        </button>
      </div>
      <ErrorNotice error={act.error} compact />
    </>
  );
  return boxed ? (
    <fieldset className="confirm" aria-label={label}>
      {body}
    </fieldset>
  ) : (
    <div className="confirm">{body}</div>
  );
}

// --- copy --------------------------------------------------------------------------------

/** Copy `text` to the clipboard, saying whether it worked. */
function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
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
      {state === "failed" && <ErrorNotice error="Copy failed; select the text instead" compact />}
    </>
  );
}

/** Text shown once (an agent command, a token, a password) with Copy beside it. */
export function CopyOnce({
  text,
  secret = false,
  testId,
}: {
  text: string;
  secret?: boolean;
  testId?: string;
}) {
  return (
    <div className="command-row">
      <code className={secret ? "command secret" : "command"} data-testid={testId}>
        {text}
      </code>
      <CopyButton text={text} />
    </div>
  );
}

// --- form cards --------------------------------------------------------------------------

/** A card with a title, a form and its one submit button; `hint` under the form, then the error. */
export function FormCard({
  title,
  formClassName = "form inline-form",
  onSubmit,
  busy,
  submit,
  busyText,
  error,
  hint,
  children,
  after,
}: {
  title: string;
  formClassName?: string;
  onSubmit: (e: FormEvent) => void;
  busy: boolean;
  /** The submit button's text, and while busy. */
  submit: string;
  busyText: string;
  error: unknown;
  hint?: ReactNode;
  /** The form's fields. */
  children: ReactNode;
  /** Under the error (e.g. what was created). */
  after?: ReactNode;
}) {
  return (
    <div className="card">
      <h2>{title}</h2>
      <form className={formClassName} onSubmit={onSubmit}>
        {children}
        <div className="buttons">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? busyText : submit}
          </button>
        </div>
      </form>
      {hint}
      <ErrorNotice error={error} />
      {after}
    </div>
  );
}

/**
 * Save / Undo changes / "Not saved yet." or what the last save said: the row under a settings
 * form. Without `onSave` the Save button submits the form it sits in.
 */
export function SaveRow({
  changed,
  busy,
  said,
  onSave,
  onUndo,
}: {
  changed: boolean;
  busy: boolean;
  said: string | null;
  onSave?: () => void;
  onUndo: () => void;
}) {
  return (
    <div className="buttons save-row">
      <button
        type={onSave ? "button" : "submit"}
        className="primary"
        disabled={!changed || busy}
        onClick={onSave}
      >
        {busy ? "Saving…" : "Save"}
      </button>
      {changed && (
        <button type="button" onClick={onUndo}>
          Undo changes
        </button>
      )}
      {changed && <span className="muted">Not saved yet.</span>}
      {!changed && said && (
        <span className="ok" role="status">
          {said}
        </span>
      )}
    </div>
  );
}
