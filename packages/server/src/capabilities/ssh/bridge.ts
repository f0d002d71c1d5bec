/**
 * One SSH session channel carried by one tunnel session (docs/protocol.md §17.6): bytes both
 * ways with backpressure (Node's pipe: the SSH window is only reopened as the device takes
 * input, and the device's window only as the SSH client takes output), stderr apart when
 * there is no PTY, and the process's exit status, or the signal that ended it, sent after the
 * last byte of output, then EOF and CLOSE, as sshd does.
 */
import type { Writable } from "node:stream";
import type { ServerChannel } from "ssh2";
import type { SessionEnd, TunnelSession } from "../../tunnels/index.js";

/** Exit status of a session that ended without a process exit (device gone, refused): as ssh's own failures. */
export const GATEWAY_FAILURE = 255;

/**
 * Resolves once everything written to `w` has been handed on (the SSH window may hold it back).
 * An empty write's callback runs after every earlier write's: 'drain' would not do, as it only
 * follows a write() that returned false, and bytes below the high-water mark may still wait.
 */
function flushed(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (w.destroyed || w.writableFinished || w.writableEnded || !w.writable) return resolve();
    w.once("close", () => resolve());
    w.write(Buffer.alloc(0), () => resolve());
  });
}

/** A one-line message on the channel's stderr (`\r\n` under a PTY, where the terminal is raw). */
export function sayOnStderr(ch: ServerChannel, message: string, pty: boolean): void {
  if (ch.stderr.writable) ch.stderr.write(`tether: ${message}${pty ? "\r\n" : "\n"}`);
}

/** Report the status, then EOF and CLOSE (exit-status must come before the channel closes). */
export async function finishChannel(
  ch: ServerChannel,
  status: { code: number | null; signal: string | null },
): Promise<void> {
  await Promise.all([flushed(ch), flushed(ch.stderr)]);
  if (!ch.writable) return;
  try {
    if (status.code !== null) ch.exit(status.code);
    else if (status.signal) ch.exit(status.signal.replace(/^SIG/, ""), false, "");
    else ch.exit(GATEWAY_FAILURE);
  } catch {
    // A signal SSH has no name for (exit-signal allows only the RFC 4254 list).
    ch.exit(GATEWAY_FAILURE);
  }
  ch.end();
}

export interface Bridge {
  /** End the session from the gateway's side (revoked, server stopping) with a message for the user. */
  abort(message: string): Promise<void>;
  readonly done: Promise<void>;
  /** The client closed the channel (it has read everything we sent on it). */
  readonly closed: Promise<void>;
}

/** Carry `session.main` over `ch` until the process exits or either side goes away. */
export function bridgeShell(ch: ServerChannel, session: TunnelSession, pty: boolean): Bridge {
  const main = session.main!;
  let exit: { code: number | null; signal: string | null } | null = null;
  let outEnded = false;
  let errEnded = false;
  let finishing: Promise<void> | null = null;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });

  const finish = (status: { code: number | null; signal: string | null }, message?: string) => {
    if (finishing) return finishing;
    main.unpipe(ch);
    main.stderr.unpipe(ch.stderr);
    if (message) sayOnStderr(ch, message, pty);
    finishing = finishChannel(ch, status).finally(resolveDone);
    return finishing;
  };
  // The exit status follows the last output: once the process exited, wait until both output
  // streams ended, or (if the layer does not end them) the session ended and nothing is left to read.
  let sessionEnded = false;
  const drained = (ended: boolean, r: { readableLength: number }) =>
    ended || (sessionEnded && r.readableLength === 0);
  const maybeFinish = () => {
    if (exit && drained(outEnded, main) && drained(errEnded, main.stderr)) void finish(exit);
  };

  ch.pipe(main); // client EOF → EOF to the device (stdin closed)
  main.pipe(ch, { end: false });
  main.stderr.pipe(ch.stderr, { end: false });
  main.on("end", () => {
    outEnded = true;
    maybeFinish();
  });
  main.stderr.on("end", () => {
    errEnded = true;
    maybeFinish();
  });
  if (main.stderr.readableEnded) errEnded = true;
  // Registered after pipe's own listener, so each chunk is already written on when this looks.
  main.on("data", () => sessionEnded && maybeFinish());
  main.stderr.on("data", () => sessionEnded && maybeFinish());
  main.on("exit", (code: number | null, signal: string | null) => {
    exit ??= { code, signal };
    maybeFinish();
  });
  main.on("error", () => {});
  const onEnd = (end: SessionEnd) => {
    sessionEnded = true;
    if (!exit && end.reason !== "exited")
      return void finish({ code: GATEWAY_FAILURE, signal: null }, end.message);
    exit ??= { code: end.exitCode, signal: end.signal };
    maybeFinish();
  };
  if (session.ended) onEnd(session.ended);
  else session.once("end", onEnd);
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => {
    resolveClosed = r;
  });
  // The client closed the channel (or the connection died): end the session, which kills the process.
  ch.on("close", () => {
    resolveClosed();
    if (!session.ended) session.close("closed", "the SSH client closed the session");
    resolveDone();
  });
  ch.on("error", () => {});

  return {
    done,
    closed,
    async abort(message) {
      await finish({ code: GATEWAY_FAILURE, signal: null }, message);
      if (!session.ended) session.close("revoked", message);
    },
  };
}
