/**
 * The sessions and tunnel-settings routes (docs/protocol.md §17.7) through the SDK's
 * sessionsApi over the console's one client (session cookie, project header), and the
 * terminal WebSocket's URL.
 */
import { type SessionView, sessionsApi, TERMINAL_WS_PATH, type TunnelSettings } from "@tether/sdk";
import { client } from "../../client";

const api = sessionsApi(client);

/** The project's sessions, newest first (live and ended); `device`: name or id. */
export function listSessions(q: { device?: string; limit?: number } = {}): Promise<SessionView[]> {
  return api.list(q);
}

export function getSession(id: string): Promise<SessionView> {
  return api.get(id);
}

/** The asciicast v2 text of a recorded session (operators). */
export function fetchRecording(id: string): Promise<string> {
  return api.recordingText(id);
}

export function getTunnelSettings(): Promise<TunnelSettings> {
  return api.settings();
}

export function setTunnelSettings(s: TunnelSettings): Promise<TunnelSettings> {
  return api.setSettings(s);
}

/**
 * The terminal WebSocket of this origin. The browser sends the session cookie and its Origin
 * (which the server checks); a WebSocket cannot carry the project header, so the project
 * rides in the query, as the event streams' do.
 */
export function terminalUrl(project: string): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}${TERMINAL_WS_PATH}?project=${encodeURIComponent(project)}`;
}
