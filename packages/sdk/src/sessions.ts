/**
 * Tunnel sessions over a TetherClient (docs/protocol.md §17.7): the sessions list (shells,
 * commands, port forwards; live and ended), one session, its asciicast v2 recording, and the
 * project's tunnel settings (recording, port-forward allow-list). Every JSON answer is checked
 * against its @tether/protocol/tunnel schema. Browser-safe; the sockets themselves
 * (openTerminal, openForward) are Node-only, in "@tether/sdk/node".
 */
import { SessionView, TunnelSettings } from "@tether/protocol/tunnel";
import { validator } from "@tether/protocol/validate";
import { arrayOf, checkedCall, lazy, parseAnswer } from "./checked.js";
import type { TetherClient } from "./client.js";

const checkSession = lazy(() => validator(SessionView));
const checkSessions = arrayOf(checkSession);
const checkSettings = lazy(() => validator(TunnelSettings));

export const SESSIONS_PATH = "/api/v1/sessions";
export const TUNNEL_SETTINGS_PATH = "/api/v1/project/tunnels";

export interface SessionListQuery {
  /** Device name or id. */
  device?: string;
  /** At most this many (newest first). */
  limit?: number;
  /** Sessions older than this session id (the last id of the previous page). */
  before?: string;
}

export interface SessionsApi {
  /** Sessions of the project, newest first (live ones too). */
  list(q?: SessionListQuery): Promise<SessionView[]>;
  get(id: string): Promise<SessionView>;
  /**
   * The recording (asciicast v2, one JSON value per line) handed to `onText` as it arrives;
   * TETHER_ERR_RECORDING_NOT_FOUND when the session was not recorded.
   */
  recording(id: string, onText: (text: string) => void, o?: { signal?: AbortSignal }): Promise<void>;
  /** The whole recording as one string. */
  recordingText(id: string): Promise<string>;
  /** The project's tunnel settings. */
  settings(): Promise<TunnelSettings>;
  /** Change them (admin); fields left out stay as they are. Answers the new settings. */
  setSettings(patch: Partial<TunnelSettings>): Promise<TunnelSettings>;
}

const one = (id: string) => `${SESSIONS_PATH}/${encodeURIComponent(id)}`;

export function sessionsApi(c: TetherClient): SessionsApi {
  const call = checkedCall(c);
  const api: SessionsApi = {
    async list(q = {}) {
      const json = await c.request<{ sessions?: unknown }>("GET", SESSIONS_PATH, undefined, {
        device: q.device,
        limit: q.limit,
        before: q.before,
      });
      return parseAnswer(checkSessions, "GET", SESSIONS_PATH, json?.sessions);
    },
    get: (id) => call(checkSession, "GET", one(id)),
    recording: (id, onText, o = {}) =>
      // A long plain-text GET: the streaming path reads it as it comes (recordings run to MBs).
      c.stream(`${one(id)}/recording`, undefined, onText, {
        ...(o.signal ? { signal: o.signal } : {}),
        headers: { accept: "application/x-asciicast, text/plain" },
      }),
    async recordingText(id) {
      const parts: string[] = [];
      await api.recording(id, (t) => parts.push(t));
      return parts.join("");
    },
    settings: () => call(checkSettings, "GET", TUNNEL_SETTINGS_PATH),
    setSettings: (patch) => call(checkSettings, "PUT", TUNNEL_SETTINGS_PATH, patch),
  };
  return api;
}
