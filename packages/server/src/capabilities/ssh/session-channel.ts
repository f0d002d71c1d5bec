/**
 * An SSH "session" channel (docs/protocol.md §17.6; RFC 4254 §6): its requests before the
 * program starts (pty-req; env is refused, see below), then one of shell, exec or the sftp
 * subsystem, which opens one tunnel session of kind shell; after that window-change and
 * signal go to the process. Each SSH session channel is exactly one tunnel session, so a
 * connection multiplexing several channels (ControlMaster, VS Code) holds several sessions,
 * each counted against the per-user and per-device limits.
 */
import { SIGNALS, type TunnelSignal } from "@tether/protocol";
import type { PseudoTtyInfo, ServerChannel, Session } from "ssh2";
import type { ShellSpec } from "../../tunnels/index.js";
import { type Bridge, bridgeShell, finishChannel, GATEWAY_FAILURE, sayOnStderr } from "./bridge.js";
import type { GatewayConnection } from "./connection.js";

/**
 * The sftp subsystem: the device's own sftp-server over pipes (the same program sshd runs), so
 * `sftp` and `scp` (which speaks SFTP since OpenSSH 9.0) work. The device needs it installed
 * (Debian: openssh-sftp-server).
 */
export const SFTP_SERVER_PATHS = [
  "/usr/lib/openssh/sftp-server",
  "/usr/lib/sftp-server",
  "/usr/libexec/openssh/sftp-server",
  "/usr/libexec/sftp-server",
  "/usr/lib/ssh/sftp-server",
];
export const SFTP_COMMAND =
  `for p in ${SFTP_SERVER_PATHS.join(" ")}; do [ -x "$p" ] && exec "$p"; done; ` +
  `echo "tether: no sftp-server on this device (install openssh-sftp-server)" >&2; exit 127`;

const TERM = /^[A-Za-z0-9._+-]{1,64}$/;

/** An SSH signal name (RFC 4254 §6.9: without "SIG") the tunnel carries, or null. */
export function tunnelSignal(name: string): TunnelSignal | null {
  const n = name.toUpperCase().replace(/^SIG/, "");
  return (SIGNALS as readonly string[]).includes(n) ? (n as TunnelSignal) : null;
}

export function handleSession(conn: GatewayConnection, s: Session): void {
  let pty: { cols: number; rows: number; term: string } | null = null;
  let bridge: Bridge | null = null;
  let started = false;
  let closed = false;
  const release = conn.holdSession();

  s.on("pty", (accept, reject, info: PseudoTtyInfo) => {
    if (started) return reject?.();
    pty = {
      cols: info.cols,
      rows: info.rows,
      term: TERM.test(info.term ?? "") ? info.term : "xterm-256color",
    };
    accept?.();
  });
  s.on("window-change", (accept, _reject, info) => {
    if (pty) {
      pty.cols = info.cols;
      pty.rows = info.rows;
    }
    conn.sessionOf(s)?.main?.resize(info.cols, info.rows);
    accept?.();
  });
  // The tunnel carries no environment: LANG, LC_* (OpenSSH's default SendEnv) and the rest are
  // refused, as sshd refuses what AcceptEnv does not list; the device's own locale applies.
  s.on("env", (_accept, reject) => reject?.());
  s.on("signal", (accept, reject, info) => {
    const sig = tunnelSignal(info.name);
    const main = conn.sessionOf(s)?.main;
    if (!sig || !main) return reject?.();
    main.signal(sig);
    accept?.();
  });

  const start = (ch: ServerChannel, shell: Omit<ShellSpec, "pty">, withPty: boolean) => {
    started = true;
    const usePty = withPty && pty !== null;
    const spec: ShellSpec = { ...shell, pty: usePty ? pty : null };
    void conn.openShell(spec).then(
      (session) => {
        if (closed || conn.closed) return void session.close("closed", "the SSH client closed the session");
        conn.track(s, session);
        bridge = bridgeShell(ch, session, usePty);
        conn.trackBridge(bridge);
        void bridge.done.then(() => conn.untrackBridge(bridge!));
      },
      (err: Error) => {
        // Said on stderr with exit status 255, so `ssh` prints it and fails as for a network error.
        sayOnStderr(ch, err.message, usePty);
        void finishChannel(ch, { code: GATEWAY_FAILURE, signal: null });
      },
    );
  };

  s.on("shell", (accept, reject) => {
    if (started) return reject?.();
    start(accept(), {}, true);
  });
  s.on("exec", (accept, reject, info) => {
    if (started) return reject?.();
    // `ssh dev CMD`: no PTY unless asked for (-t), so stdout and stderr stay apart.
    start(accept(), info.command.trim() ? { command: info.command } : {}, true);
  });
  s.on("subsystem", (accept, reject, info) => {
    if (started || info.name !== "sftp") return reject?.();
    start(accept(), { command: SFTP_COMMAND }, false);
  });
  const onClose = () => {
    if (closed) return;
    closed = true;
    release();
    const session = conn.sessionOf(s);
    if (session && !session.ended) session.close("closed", "the SSH client closed the session");
  };
  s.on("close", onClose);
}
