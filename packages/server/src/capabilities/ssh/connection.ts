/**
 * One authenticated SSH connection of the gateway (docs/protocol.md §17.6): who signed in with
 * which key, which device the username named, and the tunnel sessions its channels hold — one
 * per session channel, plus one tcp session shared by all its `ssh -L` channels. Everything
 * it holds ends when the connection closes, and the gateway can end it (key removed, access
 * revoked, device revoked, server stopping) with a message on each open session's stderr.
 */
import { TetherError } from "@tether/protocol";
import type { Connection, Session } from "ssh2";
import type { Principal } from "../../accounts.js";
import type { Devices } from "../../devices.js";
import type { ShellSpec, TunnelChannel, TunnelLayer, TunnelSession } from "../../tunnels/index.js";
import type { Bridge } from "./bridge.js";
import type { Target } from "./target.js";

/** Session channels one connection may have open at once (as sshd's MaxSessions). */
export const MAX_SESSIONS_PER_CONNECTION = 10;

export interface SignedIn {
  userId: number;
  username: string;
  keyId: number;
  fingerprint: string;
}

export class GatewayConnection {
  user: SignedIn | null = null;
  target: Target | null = null;
  closed = false;
  private readonly sessions = new Map<Session, TunnelSession>();
  private readonly bridges = new Set<Bridge>();
  private openSessions = 0;
  private forward: Promise<TunnelSession> | null = null;

  constructor(
    readonly client: Connection,
    readonly address: string,
    private readonly tunnels: TunnelLayer,
    private readonly devices: Devices,
  ) {
    client.once("close", () => this.onClosed());
  }

  /** A session channel opens: false when the connection already has its most. */
  canOpenSession(): boolean {
    return this.openSessions < MAX_SESSIONS_PER_CONNECTION;
  }

  /** Count a session channel until the returned function is called. */
  holdSession(): () => void {
    this.openSessions++;
    let held = true;
    return () => {
      if (held) this.openSessions--;
      held = false;
    };
  }

  sessionOf(s: Session): TunnelSession | undefined {
    return this.sessions.get(s);
  }

  track(s: Session, t: TunnelSession): void {
    this.sessions.set(s, t);
    t.once("end", () => this.sessions.delete(s));
  }

  trackBridge(b: Bridge): void {
    this.bridges.add(b);
  }

  untrackBridge(b: Bridge): void {
    this.bridges.delete(b);
  }

  private principal(): Principal {
    const t = this.target!;
    const u = this.user!;
    // Principal.via knows no "ssh"; "session" (not "token"), so revoking one of the user's API
    // tokens leaves SSH sessions alone, while removal, a lost role or revoked access still end them.
    return {
      userId: u.userId,
      username: u.username,
      projectId: t.projectId,
      project: t.project,
      role: t.role,
      via: "session",
    };
  }

  /** The device the username named, as it is now (it may have gone offline or been renamed since). */
  private async device() {
    const t = this.target;
    if (!this.user || !t) throw new Error("not signed in");
    if (!t.deviceId) throw new Error(t.problem ?? `no device ${t.deviceName}`);
    const d = await this.devices.get(t.deviceId);
    if (!d || d.project_id !== t.projectId) throw new Error(`device ${t.deviceName} no longer exists`);
    return d;
  }

  /** A shell session on the device; rejects with an Error whose message is for the user. */
  async openShell(shell: ShellSpec): Promise<TunnelSession> {
    const d = await this.device();
    try {
      return await this.tunnels.open({
        principal: this.principal(),
        device: d,
        via: "ssh",
        spec: { kind: "shell", shell },
      });
    } catch (err) {
      throw new Error(userMessage(err, d.name));
    }
  }

  /** A channel to host:port from the device (`ssh -L`): one tcp session serves every channel. */
  async openForward(host: string, port: number): Promise<TunnelChannel> {
    const d = await this.device();
    let session = this.forward;
    if (!session) {
      const opened = this.tunnels.open({
        principal: this.principal(),
        device: d,
        via: "ssh",
        spec: { kind: "tcp", host, port },
      });
      this.forward = session = opened;
      opened.then(
        (t) => {
          if (this.closed) t.close("closed", "the SSH connection closed");
          t.once("end", () => {
            if (this.forward === opened) this.forward = null;
          });
        },
        () => {
          if (this.forward === opened) this.forward = null;
        },
      );
    }
    try {
      return await (await session).openChannel(host, port);
    } catch (err) {
      throw new Error(userMessage(err, d.name));
    }
  }

  /**
   * End the connection from the gateway's side: each running session gets `message` on its
   * stderr and exit status 255, then the connection is closed.
   */
  async end(message: string): Promise<void> {
    if (this.closed) return;
    // Each session's channel closes first: the client answers our close only once it has taken
    // the message and the exit status, so the disconnect below cannot overtake them. A client
    // that takes nothing for 5 s is cut off.
    await Promise.race([
      Promise.all([...this.bridges].map((b) => b.abort(message).then(() => b.closed))),
      new Promise((r) => setTimeout(r, 5000).unref()),
    ]);
    for (const t of this.sessions.values()) if (!t.ended) t.close("revoked", message);
    this.client.end();
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.sessions.values()) if (!t.ended) t.close("closed", "the SSH connection closed");
    void this.forward?.then(
      (t) => !t.ended && t.close("closed", "the SSH connection closed"),
      () => {},
    );
  }
}

/** A refusal in words for the SSH user (their terminal shows it after "tether: "). */
export function userMessage(err: unknown, device: string): string {
  if (err instanceof TetherError) {
    switch (err.code) {
      case "TETHER_ERR_DEVICE_OFFLINE":
        return `device ${device} is offline`;
      case "TETHER_ERR_TUNNEL_TIMEOUT":
        return `device ${device} did not answer in time (${err.message})`;
    }
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
