/**
 * What `tether shell` and `tether forward` share (docs/protocol.md §17): the tunnel client's
 * configuration from the CLI's credentials, the terminal streams (injectable for tests), and how
 * a refused or lost session maps to exec's exit codes (125 refused, 255 unreachable).
 */
import type { Readable, Writable } from "node:stream";
import { ApiError, TUNNEL_CLOSE, TunnelError } from "@tether/sdk";
import type { TunnelClientConfig } from "@tether/sdk/node";
import type { Command } from "commander";
import { type Ctx, opts } from "../context.js";
import { requireCredentials } from "../credentials.js";
import { escapeControl } from "../escape.js";
import { CliError, type Io, messageFor } from "../io.js";
import { EXEC_EXIT } from "./exec.js";

/** The process's own streams, or stand-ins a test hands over on its Io (`streams`). */
export interface TermStreams {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: Writable & { isTTY?: boolean; columns?: number; rows?: number };
  stderr: Writable;
}

export function termStreams(ctx: Ctx): TermStreams {
  const given = (ctx.io as Io & { streams?: TermStreams }).streams;
  return given ?? { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
}

/** The tunnel client's config: the command's credentials and project, `via` cli. */
export function tunnelConfig(ctx: Ctx, cmd: Command, signal?: AbortSignal): TunnelClientConfig {
  const c = requireCredentials(ctx.io);
  const project = opts<{ project?: string }>(cmd).project || ctx.io.env.TETHER_PROJECT || undefined;
  return {
    url: c.url,
    token: c.token,
    client: "cli",
    ...(c.caCert ? { caCert: c.caCert } : {}),
    ...(project ? { project } : {}),
    ...(signal ? { signal } : {}),
  };
}

/** Refused: the role, the run-as user, a limit, the allow-list (exit 125). */
const REFUSED = new Set<string>([
  "TETHER_ERR_FORBIDDEN",
  "TETHER_ERR_UNAUTHENTICATED",
  "TETHER_ERR_BAD_ORIGIN",
  "TETHER_ERR_EXEC_USER_NOT_ALLOWED",
  "TETHER_ERR_TUNNEL_LIMIT",
  "TETHER_ERR_FORWARD_NOT_ALLOWED",
  "TETHER_ERR_RATE_LIMITED",
  "TETHER_ERR_BAD_REQUEST",
  "TETHER_ERR_PROJECT_NOT_FOUND",
]);

/**
 * Exit code for a session that could not open or ended without an exit status: exec's codes.
 * 126/127 when the device could not start the program; 125 refused; 255 otherwise (no such
 * device, offline, no dial-back, revoked, timed out, the connection lost).
 */
export function tunnelExitCode(err: unknown): number {
  if (!(err instanceof ApiError)) return EXEC_EXIT.unreachable;
  if (err.code === "TETHER_ERR_SPAWN_FAILED")
    return /not found|no such file/i.test(err.message) ? EXEC_EXIT.notFound : EXEC_EXIT.cannotRun;
  const close = err instanceof TunnelError ? err.closeCode : undefined;
  if (close === TUNNEL_CLOSE.refused) return EXEC_EXIT.refused;
  if (close === TUNNEL_CLOSE.unreachable || close === TUNNEL_CLOSE.timeout || close === TUNNEL_CLOSE.revoked)
    return EXEC_EXIT.unreachable;
  if (REFUSED.has(err.code)) return EXEC_EXIT.refused;
  if (err.status === 401 || err.status === 403 || err.status === 429) return EXEC_EXIT.refused;
  return EXEC_EXIT.unreachable;
}

/**
 * Say why on stderr (a line with the reason, a line with the code) and return the CliError that
 * ends the command with tunnelExitCode(err). Anything not from the server passes unchanged.
 */
export function tunnelFailure(ctx: Ctx, what: string, err: unknown): unknown {
  if (!(err instanceof ApiError)) return err;
  ctx.io.stderr(`tether: ${what}: ${escapeControl(messageFor(err))}\n`);
  const close = err instanceof TunnelError && err.closeCode !== undefined ? `, close ${err.closeCode}` : "";
  const http = err.status ? `, HTTP ${err.status}` : "";
  ctx.io.stderr(`tether: (${err.code}${http}${close})\n`);
  return new CliError("", tunnelExitCode(err));
}
