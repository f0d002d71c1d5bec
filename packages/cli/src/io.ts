/** What a command run needs from the outside world (injected so tests run in-process). */
import { ApiError } from "@tether/sdk";

export interface Io {
  /** Text, or raw bytes (a remote command's output, passed through unchanged). */
  stdout(s: string | Uint8Array): void;
  stderr(s: string | Uint8Array): void;
  /** Read standard input up to `max` bytes (exec --stdin). */
  readStdin(max: number): Promise<Buffer>;
  env: Record<string, string | undefined>;
  home: string;
  /** Resolves when the process is asked to stop (SIGTERM/SIGINT); used by long-running commands. */
  stopSignal(): AbortSignal;
}

/** An error with the exit code the CLI should end with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export const EXIT = {
  generic: 1,
  usage: 2,
  auth: 3,
  notFound: 4,
  /** The device or the server could not be reached, or did not answer in time. */
  unreachable: 255,
} as const;

/**
 * Exit codes: 1 generic, 2 usage, 3 not authenticated/forbidden, 4 not found, 255 the device or
 * the server unreachable (or timed out).
 */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof ApiError) {
    switch (err.code) {
      case "TETHER_ERR_UNAUTHENTICATED":
      case "TETHER_ERR_FORBIDDEN":
      case "TETHER_ERR_BAD_ORIGIN":
      case "TETHER_ERR_LOGIN_FAILED":
        return EXIT.auth;
      case "TETHER_ERR_DEVICE_OFFLINE":
      case "TETHER_ERR_DEVICE_TIMEOUT":
      case "TETHER_ERR_UNREACHABLE": // the server itself: refused, DNS, TLS, timeout, reset
        return EXIT.unreachable;
      case "TETHER_ERR_BAD_SELECTOR":
        return EXIT.usage;
    }
    if (err.status === 404) return EXIT.notFound;
    if (err.status === 401 || err.status === 403) return EXIT.auth;
    return EXIT.generic;
  }
  return EXIT.generic;
}

/** One line, no stack: "tether: <message>". */
export function messageFor(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.replace(/\s*\n\s*/g, " ").trim();
}
