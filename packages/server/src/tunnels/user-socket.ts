/**
 * The gate of a user's tunnel WebSocket (terminal docs/protocol.md §17.3, forward §17.5): the
 * upgrade is authenticated (token, or cookie with a same-origin Origin), needs the operator role
 * and fits the user's socket cap before it is accepted; then the first text message must come
 * within firstMessageMs. Bounded: one user holds at most socketsPerUser sockets, and is told so.
 */
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { TetherError, TUNNEL_CLOSE, TUNNEL_LIMITS } from "@tether/protocol";
import type { Logger } from "pino";
import { type WebSocket, WebSocketServer } from "ws";
import { type Accounts, type Principal, requireRole } from "../accounts.js";
import type { ServerConfig } from "../config.js";
import { authenticateUpgrade, refuseUpgrade } from "./upgrade-auth.js";
import type { UserLinkBase } from "./user-link.js";

export interface UserSocketLimits {
  /** The first message must come within this long. */
  firstMessageMs: number;
  /** Sockets of this kind one user may have open at once. */
  socketsPerUser: number;
}

export interface UserSocketOptions<L> {
  /** What the sockets are for, in messages and logs: "terminal", "forward". */
  label: string;
  /** The first message the client owes, for the timeout message: "open message". */
  firstMessage: string;
  /** Read at each use (the capability's own limits object). */
  limits: UserSocketLimits;
  /** The link for an accepted socket. */
  link(ws: WebSocket, principal: Principal, req: IncomingMessage): L;
  /** Serve the link (its first message, its session). */
  accept(link: L): void;
}

type Deps = { accounts: Accounts; config: Pick<ServerConfig, "publicUrl"> };

export class UserSockets<L extends UserLinkBase<{ type: string }>> {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: TUNNEL_LIMITS.maxFrameBytes,
    perMessageDeflate: false,
  });
  private readonly open = new Set<L>();
  private readonly perUser = new Map<number, number>();

  constructor(
    private readonly d: Deps,
    private readonly log: Logger,
    private readonly o: UserSocketOptions<L>,
  ) {}

  /** The accepted links still open. */
  get links(): ReadonlySet<L> {
    return this.open;
  }

  /** The console's origin when the server sits behind a public URL (as the REST API allows). */
  private allowedOrigins = (): string[] =>
    this.d.config.publicUrl ? [new URL(this.d.config.publicUrl).origin] : [];

  /** The upgrade handler (ServerCapability.websockets). */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on("error", () => {});
    void (async () => {
      const p = await authenticateUpgrade(req, this.d.accounts, this.allowedOrigins);
      requireRole(p, "operator");
      const max = this.o.limits.socketsPerUser;
      if ((this.perUser.get(p.userId) ?? 0) >= max)
        throw new TetherError(
          "TETHER_ERR_TUNNEL_LIMIT",
          `you have ${max} ${this.o.label} connections open, the most one user may`,
        );
      if (socket.destroyed) return;
      (socket as Socket).setNoDelay?.(true);
      this.wss.handleUpgrade(req, socket, head, (ws) => this.admit(this.o.link(ws, p, req)));
    })().catch((err) => {
      if (!(err instanceof TetherError)) this.log.error({ err }, `${this.o.label}: upgrade failed`);
      refuseUpgrade(socket, err);
    });
  };

  /** Counted until it closes; the first text message stops the clock. */
  private admit(link: L): void {
    const uid = link.principal.userId;
    this.open.add(link);
    this.perUser.set(uid, (this.perUser.get(uid) ?? 0) + 1);
    const ms = this.o.limits.firstMessageMs;
    const first = setTimeout(
      () => link.protocolError(`no ${this.o.firstMessage} within ${Math.round(ms / 1000)} s`),
      ms,
    );
    first.unref();
    link.once("text", () => clearTimeout(first));
    link.once("closed", () => {
      clearTimeout(first);
      this.open.delete(link);
      const n = (this.perUser.get(uid) ?? 1) - 1;
      if (n > 0) this.perUser.set(uid, n);
      else this.perUser.delete(uid);
    });
    this.o.accept(link);
  }

  /** Server shutdown (after the layer ended every session): whatever is left closes. */
  close(): void {
    for (const link of this.open)
      link.end(TUNNEL_CLOSE.unreachable, {
        type: "error",
        code: "TETHER_ERR_TUNNEL_CLOSED",
        message: "the server is stopping",
      });
    this.wss.close();
  }
}
