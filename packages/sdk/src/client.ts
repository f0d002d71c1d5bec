/**
 * TetherClient: typed access to every REST route. Works in browsers (session cookie, fetch
 * with credentials "same-origin") and in Node (API token; pin a private CA with caCert).
 * Imports only the browser-safe parts of @tether/protocol (its root pulls in node:crypto).
 */
import type { ErrorCode } from "@tether/protocol";
import {
  type ApiToken,
  type AuditEntry,
  type AuditQuery,
  Command,
  CommandEvent,
  type CommandOutputPage,
  type CommandOutputQuery,
  type CommandRun,
  type Connection,
  type CreateCommand,
  type CreateApiToken,
  type CreatedApiToken,
  type CreatedEnrollmentToken,
  type DefaultProjectBody,
  type DefaultProjectResult,
  type Device,
  type EchoResult,
  type EnrollmentToken,
  type Labels,
  Me,
  PROJECT_HEADER,
  type PingResult,
  type Project,
  type RevokeAccessResult,
  type Role,
  SESSION_COOKIE,
  type User,
} from "@tether/protocol/api";
import { base64ToBytes, bytesToBase64, OutputAssembler, outputKey } from "@tether/protocol/output";
import { type Validator, validator } from "@tether/protocol/validate";
import { ApiError, unreachable } from "./errors.js";
import { type FetchLike, fetchTransport, type HttpResponse, type Transport } from "./transport.js";

/**
 * A validator compiled on first use: compiling a schema costs milliseconds, and a short CLI run
 * (or a page that never asks) should not pay for every answer type at load.
 */
function lazy<T>(make: () => Validator<T>): Validator<T> {
  let v: Validator<T> | undefined;
  const get = () => {
    v ??= make();
    return v;
  };
  return { check: (x: unknown): x is T => get().check(x), parse: (x: unknown) => get().parse(x) };
}

const checkMe = lazy(() => validator(Me));
const checkCommand = lazy(() => validator(Command));
const checkCommands: Validator<Command[]> = {
  check: (v: unknown): v is Command[] => Array.isArray(v) && v.every((c) => checkCommand.check(c)),
  parse(v: unknown): Command[] {
    if (!Array.isArray(v)) throw new Error("invalid message: / must be an array");
    for (const c of v) checkCommand.parse(c);
    return v;
  },
};
const checkEvent = lazy(() => validator(CommandEvent));

export interface TetherClientOptions {
  /** Server base URL, e.g. https://tether.example:8443 ("" or "/" for same origin in a browser). */
  url: string;
  /** API token (Authorization: Bearer). Without one, the session cookie is used. */
  token?: string;
  /** PEM text of a CA to trust (Node only; loads node:https lazily). */
  caCert?: string;
  /** Project to act in (X-Tether-Project); the token's/session's project otherwise. */
  project?: string;
  fetchImpl?: FetchLike;
  /** Full control of the HTTP layer (e.g. nodeTransport(caCert) from "@tether/sdk/node"). */
  transport?: Transport;
  /** Told of every error answer (HTTP status >= 400) before it is thrown, e.g. to notice a 401. */
  onHttpError?: (err: ApiError, request: { method: string; path: string }) => void;
  /**
   * Ends every request of this client when it aborts (Ctrl-C, a page's lifetime): a request in
   * flight rejects with the signal's reason, and later ones at once. One signal serves any number
   * of requests; each removes its listener when it ends.
   */
  signal?: AbortSignal;
}

export interface FollowOptions {
  signal?: AbortSignal;
  /** Each time a connection delivers its first event (`n` = 0 for the first connection). */
  onOpen?: (n: number) => void;
  /** The stream broke (server restart, network) and will be opened again after a pause. */
  onRetry?: (err: ApiError, attempt: number) => void;
}

export interface CreateEnrollmentTokenInput {
  labels?: Labels;
  expiresInSeconds?: number;
  uses?: number;
  autoAccept?: boolean;
}

export interface CreateUserInput {
  username: string;
  role: Role;
  password?: string;
}

export interface Echo {
  ref: string;
  data: string;
  receivedAt: string;
}

type Query = Record<string, string | number | undefined>;

export class TetherClient {
  readonly url: string;
  project: string | undefined;
  private token: string | undefined;
  private transport: Transport | Promise<Transport>;
  /** Session cookie captured from login() outside browsers. */
  private session: string | undefined;
  private readonly onHttpError: TetherClientOptions["onHttpError"];
  private readonly signal: AbortSignal | undefined;

  constructor(o: TetherClientOptions) {
    this.url = o.url.replace(/\/+$/, "");
    this.onHttpError = o.onHttpError;
    this.signal = o.signal;
    this.token = o.token;
    this.project = o.project;
    if (o.transport) this.transport = o.transport;
    else if (o.caCert) {
      // A computed specifier keeps bundlers from pulling node:https into browser builds.
      const spec = "./node.js";
      this.transport = import(/* @vite-ignore */ spec).then((m: typeof import("./node.js")) =>
        m.nodeTransport(o.caCert),
      );
    } else this.transport = fetchTransport(o.fetchImpl);
  }

  private buildUrl(path: string, query?: Query): string {
    let url = `${this.url}${path}`;
    if (query) {
      const qs = Object.entries(query)
        .filter(([, v]) => v !== undefined && v !== "")
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
        .join("&");
      if (qs) url += `?${qs}`;
    }
    return url;
  }

  private headers(url: string, accept: string, hasBody: boolean): Record<string, string> {
    const headers: Record<string, string> = { accept };
    if (hasBody) headers["content-type"] = "application/json";
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    else if (this.session) {
      headers.cookie = `${SESSION_COOKIE}=${this.session}`;
    }
    // Cookie-authenticated changes must carry an Origin; browsers add it themselves.
    if (!this.token && typeof (globalThis as any).window === "undefined" && /^https?:/.test(url)) {
      headers.origin = new URL(url).origin;
    }
    if (this.project) headers[PROJECT_HEADER] = this.project;
    return headers;
  }

  /**
   * Low-level call: JSON in, JSON out, ApiError on failure. A Uint8Array body is sent as it is
   * (application/octet-stream: a file upload).
   */
  async request<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
    const res = await this.exchange(method, path, body, query);
    let json: any;
    try {
      json = res.body ? JSON.parse(res.body) : undefined;
    } catch {
      json = undefined;
    }
    if (res.status >= 400) throw this.failed(method, path, res.status, json, res.headers["retry-after"]);
    if (json === undefined && res.body) {
      throw new ApiError(res.status, "TETHER_ERR_HTTP", `${method} ${path}: the server did not answer JSON`);
    }
    return json as T;
  }

  /** A GET whose answer is text (a file's content), ApiError on failure. */
  async requestText(path: string, query?: Query): Promise<string> {
    const res = await this.exchange("GET", path, undefined, query, "*/*");
    if (res.status >= 400) {
      let json: any;
      try {
        json = res.body ? JSON.parse(res.body) : undefined;
      } catch {
        json = undefined;
      }
      throw this.failed("GET", path, res.status, json, res.headers["retry-after"]);
    }
    return res.body;
  }

  private async exchange(
    method: string,
    path: string,
    body: unknown,
    query: Query | undefined,
    accept = "application/json",
  ): Promise<HttpResponse> {
    const url = this.buildUrl(path, query);
    const bytes = body instanceof Uint8Array;
    const headers = this.headers(url, accept, body !== undefined);
    if (bytes) headers["content-type"] = "application/octet-stream";
    let res: HttpResponse;
    const signal = this.signal;
    try {
      signal?.throwIfAborted();
      const t = await this.transport;
      const data = body === undefined ? undefined : bytes ? body : JSON.stringify(body);
      res = await untilAborted(
        t({ method, url, headers, body: data, ...(signal ? { signal } : {}) }),
        signal,
      );
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      throw unreachable(this.url || url, err);
    }
    for (const c of res.setCookies) {
      const m = new RegExp(`^${SESSION_COOKIE}=([^;]*)`).exec(c);
      if (m) this.session = m[1] || undefined;
    }
    return res;
  }

  /** request() whose answer is checked against its protocol schema. */
  private async checked<T>(v: Validator<T>, method: string, path: string, body?: unknown, query?: Query) {
    const json = await this.request<unknown>(method, path, body, query);
    try {
      return v.parse(json);
    } catch (err) {
      throw new ApiError(
        502,
        "TETHER_ERR_HTTP",
        `${method} ${path}: unexpected answer (${(err as Error).message})`,
      );
    }
  }

  private failed(method: string, path: string, status: number, json: any, retryAfter?: string): ApiError {
    const err = httpError(method, path, status, json, retryAfter);
    this.onHttpError?.(err, { method, path });
    return err;
  }

  // --- auth -----------------------------------------------------------------------------

  me(): Promise<Me> {
    return this.checked(checkMe, "GET", "/api/v1/auth/me");
  }

  /** Sign in with a password: sets the session cookie (kept in memory outside browsers). */
  login(username: string, password: string, project?: string): Promise<Me> {
    return this.checked(checkMe, "POST", "/api/v1/auth/login", {
      username,
      password,
      ...(project ? { project } : {}),
    });
  }

  async logout(): Promise<void> {
    await this.request("POST", "/api/v1/auth/logout", {});
    this.session = undefined;
  }

  // --- devices --------------------------------------------------------------------------

  listDevices(selector?: string): Promise<Device[]> {
    return this.request("GET", "/api/v1/devices", undefined, { selector });
  }

  getDevice(ref: string): Promise<Device> {
    return this.request("GET", dev(ref));
  }

  acceptDevice(ref: string): Promise<Device> {
    return this.request("POST", `${dev(ref)}/accept`, {});
  }

  rejectDevice(ref: string): Promise<Device> {
    return this.request("POST", `${dev(ref)}/reject`, {});
  }

  /** Rotate the device's broker secret over the control channel (applied once the agent stored it). */
  rotateCredential(
    ref: string,
  ): Promise<{ device: string; mid: number; telemetryMid: number; queued: boolean }> {
    return this.request("POST", `${dev(ref)}/rotate-credential`, {});
  }

  revokeDevice(ref: string): Promise<Device> {
    return this.request("POST", `${dev(ref)}/revoke`, {});
  }

  async deleteDevice(ref: string): Promise<void> {
    await this.request("DELETE", dev(ref));
  }

  /** Rename and/or relabel; a null label value removes the label. */
  updateDevice(
    ref: string,
    change: { name?: string; labels?: Record<string, string | null> },
  ): Promise<Device> {
    return this.request("PATCH", dev(ref), change);
  }

  deviceConnections(ref: string): Promise<Connection[]> {
    return this.request("GET", `${dev(ref)}/connections`);
  }

  ping(ref: string, seq = 0, timeoutMs?: number): Promise<PingResult> {
    return this.request("POST", `${dev(ref)}/ping`, { seq, ...(timeoutMs ? { timeoutMs } : {}) });
  }

  echo(ref: string, data: string, waitMs?: number): Promise<EchoResult> {
    return this.request("POST", `${dev(ref)}/echo`, { data, ...(waitMs !== undefined ? { waitMs } : {}) });
  }

  echoes(ref: string): Promise<Echo[]> {
    return this.request("GET", `${dev(ref)}/echoes`);
  }

  // --- enrollment tokens ----------------------------------------------------------------

  listEnrollmentTokens(): Promise<EnrollmentToken[]> {
    return this.request("GET", "/api/v1/enrollment-tokens");
  }

  createEnrollmentToken(o: CreateEnrollmentTokenInput = {}): Promise<CreatedEnrollmentToken> {
    return this.request("POST", "/api/v1/enrollment-tokens", o);
  }

  async deleteEnrollmentToken(id: number): Promise<void> {
    await this.request("DELETE", `/api/v1/enrollment-tokens/${encodeURIComponent(String(id))}`);
  }

  // --- users, projects, API tokens ------------------------------------------------------

  listUsers(): Promise<User[]> {
    return this.request("GET", "/api/v1/users");
  }

  /** Creates the user (or grants an existing one a role); `password` is set only when generated. */
  createUser(o: CreateUserInput): Promise<{ username: string; role: Role; password: string | null }> {
    return this.request("POST", "/api/v1/users", o);
  }

  setUserRole(username: string, role: Role): Promise<{ username: string; role: Role }> {
    return this.request("PUT", `/api/v1/users/${encodeURIComponent(username)}/role`, { role });
  }

  async removeUser(username: string): Promise<void> {
    await this.request("DELETE", `/api/v1/users/${encodeURIComponent(username)}`);
  }

  listProjects(): Promise<Project[]> {
    return this.request("GET", "/api/v1/projects");
  }

  createProject(name: string): Promise<Project> {
    return this.request("POST", "/api/v1/projects", { name });
  }

  async deleteProject(name: string): Promise<void> {
    await this.request("DELETE", `/api/v1/projects/${encodeURIComponent(name)}`);
  }

  listApiTokens(): Promise<ApiToken[]> {
    return this.request("GET", "/api/v1/api-tokens");
  }

  /** `expiresInSeconds`: the token is refused (401) after that long; no expiry without it. */
  createApiToken(name: string, expiresInSeconds?: number): Promise<CreatedApiToken> {
    const body: CreateApiToken = {
      name,
      ...(expiresInSeconds !== undefined ? { expiresInSeconds } : {}),
    };
    return this.request("POST", "/api/v1/api-tokens", body);
  }

  /** End all of a user's sign-ins and API tokens, in every project (admin). */
  revokeUserAccess(username: string): Promise<RevokeAccessResult> {
    return this.request("POST", `/api/v1/users/${encodeURIComponent(username)}/revoke-access`, {});
  }

  /** Choose the project your sign-ins land in (one where you have a role). */
  setDefaultProject(project: string): Promise<DefaultProjectResult> {
    const body: DefaultProjectBody = { project };
    return this.request("PUT", "/api/v1/me/default-project", body);
  }

  async revokeApiToken(id: number): Promise<void> {
    await this.request("DELETE", `/api/v1/api-tokens/${encodeURIComponent(String(id))}`);
  }

  // --- commands -------------------------------------------------------------------------

  /** Start a command on devices (`devices`, `selector` or `all`); returns at once. */
  createCommand(input: CreateCommand): Promise<Command> {
    return this.checked(checkCommand, "POST", "/api/v1/commands", input);
  }

  listCommands(o: { device?: string; limit?: number } = {}): Promise<Command[]> {
    return this.checked(checkCommands, "GET", "/api/v1/commands", undefined, {
      device: o.device,
      limit: o.limit,
    });
  }

  /**
   * One command with its runs. `output: true` adds each run's stdout/stderr: the server
   * answers large output in part (`stdoutNext`/`stderrNext`), and the rest is fetched page by
   * page here, up to `maxOutputBytes` per stream (default: all of it). A stream cut short at
   * that limit keeps its `…Next` offset.
   */
  async getCommand(id: string, o: { output?: boolean; maxOutputBytes?: number } = {}): Promise<Command> {
    const c = await this.checked(checkCommand, "GET", cmd(id), undefined, {
      output: o.output ? "true" : undefined,
    });
    if (o.output)
      for (const run of c.runs ?? [])
        for (const s of ["stdout", "stderr"] as const) await this.completeOutput(run, s, o.maxOutputBytes);
    return c;
  }

  /** One page of a device's stored stream (`device`: its id or name) from byte `offset`. */
  readCommandOutput(id: string, q: CommandOutputQuery): Promise<CommandOutputPage> {
    return this.request("GET", `${cmd(id)}/output`, undefined, {
      device: q.device,
      stream: q.stream,
      offset: q.offset,
      limit: q.limit,
    });
  }

  private async completeOutput(
    run: CommandRun,
    s: "stdout" | "stderr",
    max = Number.POSITIVE_INFINITY,
  ): Promise<void> {
    let next: number | null | undefined = run[`${s}Next`];
    if (next === undefined || run[s] === undefined) return;
    const first = run[`${s}Encoding`] === "base64" ? base64ToBytes(run[s]) : new TextEncoder().encode(run[s]);
    const parts: Uint8Array[] = [first];
    let have = first.length;
    while (next !== null && have < max) {
      const page = await this.readCommandOutput(run.command, {
        device: run.deviceId,
        stream: s,
        offset: next,
        limit: Number.isFinite(max) ? max - have : undefined,
      });
      const bytes = base64ToBytes(page.data);
      if (bytes.length === 0) break;
      parts.push(bytes);
      have += bytes.length;
      next = page.next;
    }
    const all = new Uint8Array(have);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    try {
      run[s] = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(all);
      run[`${s}Encoding`] = "utf8";
    } catch {
      run[s] = bytesToBase64(all);
      run[`${s}Encoding`] = "base64";
    }
    if (next === null) delete run[`${s}Next`];
    else run[`${s}Next`] = next;
  }

  cancelCommand(id: string): Promise<Command> {
    return this.checked(checkCommand, "POST", `${cmd(id)}/cancel`);
  }

  async getExecUsers(): Promise<string[]> {
    return (await this.request<{ execUsers: string[] }>("GET", "/api/v1/project/exec-users")).execUsers;
  }

  async setExecUsers(users: string[]): Promise<string[]> {
    return (
      await this.request<{ execUsers: string[] }>("PUT", "/api/v1/project/exec-users", { execUsers: users })
    ).execUsers;
  }

  /**
   * A long GET read as it arrives (Server-Sent Events: logsApi().tail() parses them). Text goes
   * to `onText`; `headers` adds request headers (e.g. `last-event-id`). Resolves when the server
   * ends the response; rejects with an ApiError for an HTTP error (status >= 400) or an
   * unreachable server (status 0), with what `onText` threw (the stream is ended then), and
   * with the abort reason when `signal` or the client's signal aborts.
   */
  async stream(
    path: string,
    query: Query | undefined,
    onText: (text: string) => void,
    o: { signal?: AbortSignal; headers?: Record<string, string> } = {},
  ): Promise<void> {
    const url = this.buildUrl(path, query);
    const t = await this.transport;
    if (!t.stream) throw new Error("this transport cannot stream");
    const ctl = new AbortController();
    const outer = [o.signal, this.signal].filter((x): x is AbortSignal => !!x);
    const stop = () => ctl.abort();
    for (const sig of outer) {
      if (sig.aborted) ctl.abort();
      else sig.addEventListener("abort", stop, { once: true });
    }
    let thrown: { err: unknown } | undefined;
    const guarded = (text: string) => {
      if (thrown) return;
      try {
        onText(text);
      } catch (err) {
        // This runs inside the transport's data handler: end the stream, throw after it.
        thrown = { err };
        ctl.abort();
      }
    };
    let res: { status: number; body: string };
    try {
      res = await t.stream(
        { method: "GET", url, headers: { ...this.headers(url, "text/event-stream", false), ...o.headers } },
        guarded,
        ctl.signal,
      );
    } catch (err) {
      if (thrown) throw thrown.err;
      const aborted = outer.find((x) => x.aborted);
      if (aborted) throw aborted.reason ?? err;
      throw unreachable(this.url, err);
    } finally {
      for (const sig of outer) sig.removeEventListener("abort", stop);
    }
    if (thrown) throw thrown.err;
    const aborted = outer.find((x) => x.aborted);
    if (aborted) throw aborted.reason;
    if (res.status >= 400) {
      let json: any;
      try {
        json = JSON.parse(res.body);
      } catch {}
      throw this.failed("GET", path, res.status, json);
    }
  }

  /**
   * Follow a command's Server-Sent Events: everything so far, then live. Resolves with the
   * final command at the `done` event; rejects if the stream breaks first (call again: the
   * replay repeats from the start, so track what you have already shown, or use
   * followCommand()). Each event is checked against the protocol's CommandEvent schema.
   * `onOpen` runs when the first bytes of the stream arrive.
   */
  async commandEvents(
    id: string,
    onEvent: (e: CommandEvent) => void,
    o: { signal?: AbortSignal; onOpen?: () => void } = {},
  ): Promise<Command> {
    const path = `${cmd(id)}/events`;
    let done: Command | undefined;
    let opened = false;
    let buf = "";
    // Throwing from onText ends the stream (stream() rethrows it once the transport has stopped):
    // a bad event throws its ApiError, `done` throws END and the command is returned.
    const END = new Error("done");
    const onText = (text: string) => {
      if (!opened) {
        opened = true;
        o.onOpen?.();
      }
      buf += text;
      for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).trimStart())
          .join("\n");
        if (!data) continue;
        let e: CommandEvent;
        try {
          e = checkEvent.parse(JSON.parse(data));
        } catch (err) {
          throw new ApiError(
            502,
            "TETHER_ERR_HTTP",
            `GET ${path}: unexpected event (${(err as Error).message})`,
          );
        }
        onEvent(e);
        if (e.type === "done") {
          done = e.command;
          throw END;
        }
      }
    };
    try {
      await this.stream(path, this.project ? { project: this.project } : undefined, onText, {
        signal: o.signal,
      });
    } catch (err) {
      if (err === END && done) return done;
      throw err;
    }
    throw new ApiError(
      0,
      "TETHER_ERR_UNREACHABLE",
      `the event stream of ${id} ended before the command finished`,
    );
  }

  /**
   * commandEvents() to the end, opening the stream again whenever it breaks (a server
   * restart, the network: ApiError status 0), with a growing pause. Every connection replays
   * the output from its start; output already delivered is dropped (OutputAssembler), so
   * `onEvent` sees each byte once. Other errors (an HTTP error, an abort) are thrown.
   */
  async followCommand(
    id: string,
    onEvent: (e: CommandEvent) => void,
    o: FollowOptions = {},
  ): Promise<Command> {
    const output = new OutputAssembler();
    for (let attempt = 0, n = 0; ; attempt++) {
      const cursor = output.replay();
      const conn = n;
      try {
        return await this.commandEvents(
          id,
          (e) => {
            if (e.type !== "output") return onEvent(e);
            const data = base64ToBytes(e.data);
            const fresh = cursor.accept(outputKey(e.deviceId, e.stream), data);
            if (fresh === data) onEvent(e);
            else if (fresh) onEvent({ ...e, data: bytesToBase64(fresh) });
          },
          {
            signal: o.signal,
            onOpen: () => {
              n++;
              o.onOpen?.(conn);
            },
          },
        );
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 0 || o.signal?.aborted) throw err;
        o.onRetry?.(err, attempt);
        await pause(Math.min(5000, 250 * 2 ** Math.min(attempt, 5)), o.signal);
        if (o.signal?.aborted) throw err;
      }
    }
  }

  // --- audit ----------------------------------------------------------------------------

  /**
   * One page of the audit log, newest first (admin). Filters combine with AND; `since`/`until`
   * are ISO 8601 times. For the next, older page pass the last entry's id as `before`; a page
   * shorter than `limit` (default 100, at most AUDIT_PAGE_MAX) is the last.
   */
  audit(o: AuditQuery = {}): Promise<AuditEntry[]> {
    return this.request("GET", "/api/v1/audit", undefined, {
      device: o.device,
      actor: o.actor,
      action: o.action,
      since: o.since,
      until: o.until,
      before: o.before,
      limit: o.limit,
    });
  }
}

/**
 * `p`, or the signal's reason as soon as it aborts. The listener is removed when `p` settles,
 * so a long-lived signal shared by many requests holds none of them.
 */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

const dev = (ref: string) => `/api/v1/devices/${encodeURIComponent(ref)}`;
const cmd = (id: string) => `/api/v1/commands/${encodeURIComponent(id)}`;

/** Wait `ms`, or until `signal` aborts; the listener goes either way (one per pause would pile up). */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

function httpError(method: string, path: string, status: number, json: any, retryAfter?: string): ApiError {
  const e = json?.error;
  if (status === 429 && (typeof e?.code !== "string" || e.code === "TETHER_ERR_RATE_LIMITED")) {
    // Rate limited: say how long to wait, from Retry-After (seconds).
    const n = retryAfter !== undefined && /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) : undefined;
    return new ApiError(
      status,
      "TETHER_ERR_RATE_LIMITED",
      n !== undefined
        ? `too many attempts; retry in ${n} s`
        : String(e?.message ?? "too many attempts; retry later"),
      n,
    );
  }
  if (e && typeof e.code === "string")
    return new ApiError(status, e.code as ErrorCode, String(e.message ?? e.code));
  return new ApiError(status, "TETHER_ERR_HTTP", `${method} ${path}: HTTP ${status}`);
}
