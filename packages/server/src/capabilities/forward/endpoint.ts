/**
 * The forward WebSocket, FORWARD_WS_PATH (docs/protocol.md §17.5). Gate first: the upgrade is
 * authenticated (token, or cookie with a same-origin Origin) and needs the operator role before
 * it is accepted. Then the first text message, within firstMessageMs, opens a forward session
 * to one destination on a device (`open`: the tunnel layer checks the allow-list and limits);
 * after `ready` the client opens one channel per local TCP connection with OPEN frames.
 */
import { ForwardOpen, TUNNEL_CLOSE, validator } from "@tether/protocol";
import type { MuxChannel } from "@tether/protocol/tunnel-mux";
import type { Logger } from "pino";
import type { CapabilityContext, UserChange } from "../../capability.js";
import { endClose, type SessionEnd, type UserSocketLimits, UserSockets } from "../../tunnels/index.js";
import { serveChannel } from "./channel.js";
import { ForwardLink } from "./user-link.js";

/**
 * firstMessageMs: the open message must come within this long; socketsPerUser: forward
 * WebSockets one user may have open at once (sessions are capped by the tunnel layer too).
 */
export type ForwardLimits = UserSocketLimits;

export const DEFAULT_FORWARD_LIMITS: ForwardLimits = { firstMessageMs: 10_000, socketsPerUser: 64 };

const checkOpen = validator(ForwardOpen);

type Deps = Pick<CapabilityContext, "accounts" | "devices" | "tunnels" | "config">;

export class ForwardEndpoint {
  private readonly sockets: UserSockets<ForwardLink>;
  /** Links whose session is not open yet (a user losing access is cut off here too). */
  private readonly pending = new Set<ForwardLink>();
  /** The upgrade handler (ServerCapability.websockets). */
  readonly upgrade: UserSockets<ForwardLink>["upgrade"];

  constructor(
    private readonly d: Deps,
    private readonly log: Logger,
    o: ForwardLimits = DEFAULT_FORWARD_LIMITS,
  ) {
    this.sockets = new UserSockets(d, log, {
      label: "forward",
      firstMessage: "open message",
      limits: o,
      link: (ws, p) => new ForwardLink(ws, p),
      accept: (link) => this.accept(link),
    });
    this.upgrade = this.sockets.upgrade;
  }

  stats(): { sockets: number } {
    return { sockets: this.sockets.links.size };
  }

  private accept(link: ForwardLink): void {
    this.pending.add(link);
    let opened = false;
    link.once("closed", () => this.pending.delete(link));
    link.on("text", (text: string) => {
      if (opened) return link.protocolError("only binary frames may follow the open message");
      opened = true;
      let m: unknown;
      try {
        m = JSON.parse(text);
      } catch {
        return link.protocolError("the open message must be JSON");
      }
      if (!checkOpen.check(m)) return link.protocolError(problem(m));
      void this.open(link, m);
    });
  }

  /** `open`: a tcp session to host:port on the device, owned by this link. */
  private async open(link: ForwardLink, m: ForwardOpen): Promise<void> {
    const p = link.principal;
    try {
      const device = await this.d.devices.findAccepted(p.projectId, m.device);
      if (link.gone) return;
      const session = await this.d.tunnels.open({
        principal: p,
        device,
        via: "cli",
        spec: { kind: "tcp", host: m.host, port: m.port },
      });
      this.pending.delete(link);
      // The user left (or lost access) while the device dialled back: nobody to serve.
      if (link.gone) {
        session.close("closed", `${p.username} left before the forward opened`);
        return;
      }
      const dest = { host: m.host, port: m.port };
      link.mux.on("open", (ch: MuxChannel, host: string, port: number) =>
        serveChannel(session, dest, ch, { host, port }, this.log),
      );
      link.once("closed", () => session.close("closed", `${p.username} closed the forward`));
      const onEnd = (e: SessionEnd) =>
        link.end(endClose(e.reason), {
          type: "error",
          code: e.code ?? "TETHER_ERR_TUNNEL_CLOSED",
          message: e.message,
        });
      if (session.ended) return onEnd(session.ended);
      session.once("end", onEnd);
      link.framesAllowed = true;
      link.send({ type: "ready", session: session.id, device: session.device });
    } catch (err) {
      this.pending.delete(link);
      link.refuse(err, this.log, "forward");
    }
  }

  /** A user lost access: sockets not yet in a session end now (the layer ends the live sessions). */
  userChanged(change: UserChange): void {
    for (const link of this.pending) {
      const p = link.principal;
      if (p.userId !== change.userId) continue;
      if (change.projectId !== undefined && change.projectId !== p.projectId) continue;
      link.end(TUNNEL_CLOSE.revoked, {
        type: "error",
        code: "TETHER_ERR_TUNNEL_CLOSED",
        message: `${p.username} no longer has access`,
      });
    }
  }

  /** Server shutdown. */
  close(): void {
    this.sockets.close();
  }
}

/** The first problem the validator finds, as one line. */
function problem(m: unknown): string {
  try {
    checkOpen.parse(m);
    return "unexpected message";
  } catch (err) {
    return `${(err as Error).message}; the first message must be {"type":"open","device":…,"host":…,"port":…}`;
  }
}
