/**
 * Sessions in the console's words: how a terminal link ended, what a session ran, how it
 * ended (the sessions list). Pure functions, no React.
 */
import type { SessionView } from "@tether/protocol/tunnel";
import { TUNNEL_CLOSE } from "@tether/protocol/tunnel";
import type { LinkEnd } from "./terminal-link";

/** What the page says over the terminal: a sentence, a detail line (the code), the button. */
export interface EndText {
  message: string;
  detail: string | null;
  /** "Reconnect", "Start a new session", "Retry", "Watch again". */
  action: string;
}

const sentence = (s: string): string => {
  const t = s.trim();
  if (!t) return t;
  const first = t[0].toUpperCase() + t.slice(1);
  return /[.!?…]$/.test(first) ? first : `${first}.`;
};

const clause = (s: string): string => s.trim().replace(/[.!?]+$/, "");

/** Sentences for the codes a terminal can fail with before it opens. */
function openFailure(code: string, message: string, device: string): string {
  switch (code) {
    case "TETHER_ERR_DEVICE_OFFLINE":
      return `${device} is offline, so a terminal cannot open now. Try again once it is back online.`;
    case "TETHER_ERR_TUNNEL_TIMEOUT":
      return `${device} did not connect back in time. Its agent may be busy, or unable to reach the server.`;
    case "TETHER_ERR_FORBIDDEN":
      return "Your role in this project does not allow a terminal. Operators and admins may open one.";
    case "TETHER_ERR_DEVICE_NOT_FOUND":
      return "This device does not exist in this project (it may have been deleted).";
    case "TETHER_ERR_DEVICE_STATE":
      return `${device} is not accepted, so a terminal cannot open on it.`;
    case "TETHER_ERR_SESSION_NOT_FOUND":
      return "This session has ended, or it does not exist in this project.";
    case "TETHER_ERR_SPAWN_FAILED":
      return message
        ? `${device} could not start the shell: ${clause(message)}.`
        : `${device} could not start the shell.`;
    case "TETHER_ERR_UNAUTHENTICATED":
      return "Your sign-in has ended. Sign in again.";
    default:
      return sentence(message || "The terminal could not open.");
  }
}

/** A WebSocket close code (no message from the server) in words. */
function closeText(code: number, reason: string, device: string, beforeReady: boolean): string {
  switch (code) {
    case TUNNEL_CLOSE.refused:
      return sentence(reason || "The server refused the terminal");
    case TUNNEL_CLOSE.unreachable:
      return `${device} could not be reached.`;
    case TUNNEL_CLOSE.timeout:
      return `The session ended: ${clause(reason || "it was idle too long or reached its maximum length")}.`;
    case TUNNEL_CLOSE.revoked:
      return "The session ended: access was revoked.";
    case TUNNEL_CLOSE.protocol:
      return "The session ended: the server and the console disagreed about the protocol. Reload the page.";
    case TUNNEL_CLOSE.normal:
    case 1001:
      if (!beforeReady) return reason ? `The session ended: ${clause(reason)}.` : "The session ended.";
      break;
  }
  return beforeReady
    ? "The terminal could not connect to the server. Check your connection, then retry."
    : `The connection to ${device} was lost.`;
}

/**
 * How a link ended, for the page. `joined`: this page watched someone's session (retrying
 * joins it again) rather than opening its own (retrying opens a new session).
 */
export function endText(end: LinkEnd, device: string, joined = false): EndText {
  if (end.kind === "exit") {
    const what = "The shell";
    const message =
      end.code !== null
        ? `${what} exited with status ${end.code}.`
        : end.signal
          ? `${what} was ended by signal ${end.signal}.`
          : `${what} exited.`;
    return {
      message,
      detail: end.code !== null ? `exit status ${end.code}` : end.signal ? `signal ${end.signal}` : null,
      action: joined ? "Back to sessions" : "Start a new session",
    };
  }
  if (end.kind === "error") {
    const message = end.beforeReady
      ? openFailure(end.code, end.message, device)
      : end.code === "TETHER_ERR_TUNNEL_CLOSED" || !end.message
        ? `The session ended${end.message ? `: ${clause(end.message)}` : ""}.`
        : sentence(end.message);
    return {
      message,
      detail: end.code,
      action: end.beforeReady ? "Retry" : joined ? "Watch again" : "Reconnect",
    };
  }
  const message = closeText(end.closeCode, end.reason, device, end.beforeReady);
  const detail = `WebSocket closed (${end.closeCode}${end.reason ? `: ${end.reason}` : ""})`;
  return { message, detail, action: end.beforeReady ? "Retry" : joined ? "Watch again" : "Reconnect" };
}

/** What a session ran: "login shell", the command, "forward to localhost:8080". */
export function sessionWhat(s: Pick<SessionView, "kind" | "target" | "runAs">): string {
  const what = s.kind === "forward" ? `forward to ${s.target}` : s.target || "login shell";
  return s.runAs ? `${what} as ${s.runAs}` : what;
}

/** The end reasons the server records (packages/server/src/tunnels/types.ts EndReason). */
const REASONS: Record<string, string> = {
  closed: "Closed by the user",
  "closed by user": "Closed by the user",
  "device-gone": "The device went offline",
  "device gone": "The device went offline",
  revoked: "Access was revoked",
  idle: "Ended after being idle too long",
  "idle timeout": "Ended after being idle too long",
  "max-length": "Reached the maximum session length",
  "max length": "Reached the maximum session length",
  "server-stopped": "The server stopped",
  "server stopped": "The server stopped",
  failed: "Could not start",
  refused: "Refused",
};

/** How a session ended, as a sentence for the sessions list ("Exited with status 3."). */
export function sessionEnded(s: Pick<SessionView, "live" | "endReason" | "exitCode">): string {
  if (s.live) return "Still running";
  const r = s.endReason ?? "";
  if (r === "exited" || (r === "" && s.exitCode !== null))
    return s.exitCode === null || s.exitCode === undefined
      ? "Exited"
      : s.exitCode === 0
        ? "Exited normally (status 0)"
        : `Exited with status ${s.exitCode}`;
  if (!r) return "Ended";
  return REASONS[r] ?? sentence(r).replace(/\.$/, "");
}

/** "1.2 s", "4m 10s", "2h 5m". */
export function fmtDurationMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}
