/**
 * A small fetch wrapper for the Tether REST API. The console authenticates with the
 * HttpOnly session cookie the server sets at sign-in, so every request is same-origin with
 * credentials; the browser adds the Origin header the server checks on changes.
 */
import type {
  AuditEntry,
  Command,
  Connection,
  CreateCommand,
  CreatedEnrollmentToken,
  Device,
  EnrollmentToken,
  Labels,
  Me,
  PingResult,
} from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const PROJECT_HEADER = "x-tether-project";
let project: string | null = null;
let onUnauthenticated: (() => void) | null = null;

/** Select the project sent with every request (null: the session's own project). */
export function setProject(p: string | null): void {
  project = p;
}

/** Called when a request comes back 401 (the session ended or was never there). */
export function setUnauthenticatedHandler(fn: (() => void) | null): void {
  onUnauthenticated = fn;
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (project) headers[PROJECT_HEADER] = project;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, "NETWORK", `cannot reach the server (${(err as Error).message})`);
  }
  const text = await res.text();
  let data: any;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!res.ok) {
    const e = data?.error;
    const err = new ApiError(
      res.status,
      typeof e?.code === "string" ? e.code : `HTTP_${res.status}`,
      typeof e?.message === "string" ? e.message : `${res.status} ${res.statusText}`,
    );
    if (res.status === 401 && !path.startsWith("/api/v1/auth/")) onUnauthenticated?.();
    throw err;
  }
  return data as T;
}

const enc = encodeURIComponent;

export const api = {
  me: () => request<Me>("GET", "/api/v1/auth/me"),
  login: (username: string, password: string) =>
    request<Me>("POST", "/api/v1/auth/login", { username, password }),
  logout: () => request<{ ok: true }>("POST", "/api/v1/auth/logout"),

  devices: (selector?: string) =>
    request<Device[]>("GET", `/api/v1/devices${selector ? `?selector=${enc(selector)}` : ""}`),
  device: (ref: string) => request<Device>("GET", `/api/v1/devices/${enc(ref)}`),
  deviceAction: (ref: string, action: "accept" | "reject" | "revoke") =>
    request<Device>("POST", `/api/v1/devices/${enc(ref)}/${action}`),
  deleteDevice: (ref: string) => request<{ ok: true }>("DELETE", `/api/v1/devices/${enc(ref)}`),
  connections: (ref: string) => request<Connection[]>("GET", `/api/v1/devices/${enc(ref)}/connections`),
  ping: (ref: string) => request<PingResult>("POST", `/api/v1/devices/${enc(ref)}/ping`, {}),

  enrollmentTokens: () => request<EnrollmentToken[]>("GET", "/api/v1/enrollment-tokens"),
  createEnrollmentToken: (o: {
    labels?: Labels;
    expiresInSeconds?: number;
    uses?: number;
    autoAccept?: boolean;
  }) => request<CreatedEnrollmentToken>("POST", "/api/v1/enrollment-tokens", o),
  deleteEnrollmentToken: (id: number) => request<{ ok: true }>("DELETE", `/api/v1/enrollment-tokens/${id}`),

  createCommand: (body: CreateCommand) => request<Command>("POST", "/api/v1/commands", body),
  commands: (o: { device?: string; limit?: number } = {}) => {
    const q = new URLSearchParams();
    if (o.device) q.set("device", o.device);
    if (o.limit) q.set("limit", String(o.limit));
    const qs = q.toString();
    return request<Command[]>("GET", `/api/v1/commands${qs ? `?${qs}` : ""}`);
  },
  /** With `output`, every run carries its stored stdout/stderr. */
  command: (id: string, output = false) =>
    request<Command>("GET", `/api/v1/commands/${enc(id)}${output ? "?output=true" : ""}`),
  cancelCommand: (id: string) => request<Command>("POST", `/api/v1/commands/${enc(id)}/cancel`),

  audit: (o: { device?: string; limit?: number } = {}) => {
    const q = new URLSearchParams();
    if (o.device) q.set("device", o.device);
    if (o.limit) q.set("limit", String(o.limit));
    const qs = q.toString();
    return request<AuditEntry[]>("GET", `/api/v1/audit${qs ? `?${qs}` : ""}`);
  },
};

/**
 * The Server-Sent Events URL of a command. EventSource cannot send the project header, so
 * the project travels in the query string (the session cookie goes along as usual).
 */
export function commandEventsUrl(id: string): string {
  return `/api/v1/commands/${enc(id)}/events${project ? `?project=${enc(project)}` : ""}`;
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return `${err.message} (${err.code})`;
  return err instanceof Error ? err.message : String(err);
}
