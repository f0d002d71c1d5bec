/**
 * The console's API client: @tether/sdk over fetch. The console authenticates with the
 * HttpOnly session cookie the server sets at sign-in, so every request is same-origin with
 * credentials; the browser adds the Origin header the server checks on changes.
 */
import { ApiError, TetherClient } from "@tether/sdk";

let onUnauthenticated: (() => void) | null = null;

export const client = new TetherClient({
  url: window.location.origin,
  onHttpError: (err, { path }) => {
    // The session ended or was never there (sign-in and "who am I" answer for themselves).
    if (err.status === 401 && !path.startsWith("/api/v1/auth/")) onUnauthenticated?.();
  },
});

/** Select the project sent with every request (null: the session's own project). */
export function setProject(p: string | null): void {
  client.project = p ?? undefined;
}

/** Called when a request comes back 401 (the session ended or was never there). */
export function setUnauthenticatedHandler(fn: (() => void) | null): void {
  onUnauthenticated = fn;
}

export { ApiError };
