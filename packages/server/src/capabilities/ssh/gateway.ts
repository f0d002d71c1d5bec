/**
 * The SSH gateway's listener (docs/protocol.md §17.6): an ssh2 Server fed by our own TCP
 * listener, so every accepted socket is counted by a PreauthGate (docs/security.md
 * "Listeners") from the first byte until its sign-in succeeds: timed out after the pre-auth
 * timeout (key exchange included) and capped overall and per source address, like the MQTT
 * and HTTPS listeners. Signed-in connections are tracked so that a removed key, a user losing
 * access, a revoked device or a stopping server ends them.
 */
import {
  createServer as createNetServer,
  type AddressInfo,
  type Server as NetServer,
  type Socket,
} from "node:net";
import type { Logger } from "pino";
import type { Connection } from "ssh2";
import type { Accounts } from "../../accounts.js";
import type { Devices } from "../../devices.js";
import { PreauthGate, type PreauthLimits } from "../../net/preauth.js";
import type { TunnelLayer } from "../../tunnels/index.js";
import { authenticator } from "./auth.js";
import { GatewayConnection } from "./connection.js";
import { handleDirectTcpip } from "./direct-tcpip.js";
import type { HostKey } from "./host-key.js";
import type { SshKeys } from "./key-store.js";
import { handleSession } from "./session-channel.js";
import { Server as SshServer } from "./ssh2-lib.js";

export interface GatewayDeps {
  keys: SshKeys;
  accounts: Accounts;
  devices: Devices;
  tunnels: TunnelLayer;
  hostKey: HostKey;
  preauth: PreauthLimits;
  log: Logger;
}

const sockKey = (ip: string | undefined, port: number | undefined) => `${ip}|${port}`;

export class SshGateway {
  private readonly ssh: InstanceType<typeof SshServer>;
  private readonly tcp: NetServer;
  readonly gate: PreauthGate;
  /** Accepted TCP sockets by remote address and port (what ssh2's 'connection' reports). */
  private readonly sockets = new Map<string, Socket>();
  /** Signed-in connections. */
  private readonly live = new Set<GatewayConnection>();

  constructor(private readonly deps: GatewayDeps) {
    this.gate = new PreauthGate("SSH", deps.preauth, deps.log);
    this.ssh = new SshServer({ hostKeys: [deps.hostKey.privateKey], ident: "Tether" }, (client, info) =>
      this.onConnection(client, info.ip, info.port),
    );
    this.ssh.on("error", (err: Error) => deps.log.debug({ err }, "SSH server error"));
    this.tcp = createNetServer((socket) => {
      socket.setNoDelay(true);
      socket.on("error", () => {});
      const key = sockKey(socket.remoteAddress, socket.remotePort);
      this.sockets.set(key, socket);
      socket.once("close", () => this.sockets.delete(key));
      this.gate.admit(socket, socket.remoteAddress);
      this.ssh.injectSocket(socket);
    });
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.tcp.once("error", reject);
      this.tcp.listen(port, host, () => {
        this.tcp.removeListener("error", reject);
        resolve();
      });
    });
    return (this.tcp.address() as AddressInfo).port;
  }

  private onConnection(client: Connection, ip: string, port: number): void {
    const socket = this.sockets.get(sockKey(ip, port));
    const conn = new GatewayConnection(client, ip ?? "unknown", this.deps.tunnels, this.deps.devices);
    const auth = authenticator(
      {
        keys: this.deps.keys,
        accounts: this.deps.accounts,
        devices: this.deps.devices,
        log: this.deps.log,
        connectionsOf: (userId) => [...this.live].filter((c) => c.user?.userId === userId).length,
        signedIn: (c) => {
          if (socket) this.gate.authenticated(socket);
          this.live.add(c);
        },
      },
      conn,
    );
    client.on("error", (err: Error) =>
      this.deps.log.debug({ err: err.message, address: ip }, "SSH connection error"),
    );
    client.on("authentication", (ctx) => {
      auth(ctx).catch((err) => {
        this.deps.log.error({ err }, "SSH: sign-in check failed");
        ctx.reject(["publickey"]);
      });
    });
    client.on("session", (accept, reject) => {
      if (!conn.canOpenSession()) return reject();
      handleSession(conn, accept());
    });
    client.on("tcpip", (accept, reject, info) =>
      handleDirectTcpip(conn, accept, reject, info, this.deps.log),
    );
    // Remote forwarding (-R) and streamlocal are not offered: global requests are refused.
    client.on("request", (_accept, reject) => reject?.());
    client.once("close", () => this.live.delete(conn));
  }

  /** End the signed-in connections `pick` selects, each session told why. */
  async endWhere(pick: (c: GatewayConnection) => boolean, message: string): Promise<number> {
    const hit = [...this.live].filter(pick);
    await Promise.all(hit.map((c) => c.end(message)));
    return hit.length;
  }

  /** Signed-in connections now. */
  connections(): GatewayConnection[] {
    return [...this.live];
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    this.gate.closeAll();
    await this.endWhere(() => true, "the server is stopping");
    for (const s of this.sockets.values()) s.destroy();
    await closed;
  }
}
