/**
 * The terminal WebSocket, TERMINAL_WS_PATH (docs/protocol.md §17.3). Gate first: the upgrade is
 * authenticated (token, or cookie with a same-origin Origin) and needs the operator role before
 * it is accepted. Then the first text message, within firstMessageMs, opens a shell on a device
 * (`open`) or watches a running one (`join`); after `ready`, channel 0 carries the terminal and
 * the owner may `grant` input to a viewer.
 */
import {
  clampSize,
  TerminalGrant,
  TerminalJoin,
  TerminalOpen,
  TetherError,
  TUNNEL_CLOSE,
  TUNNEL_LIMITS,
  validator,
} from "@tether/protocol";
import type { Logger } from "pino";
import { hasRole } from "../../accounts.js";
import type { CapabilityContext, UserChange } from "../../capability.js";
import { type UserSocketLimits, UserSockets } from "../../tunnels/index.js";
import { DEFAULT_ROOM_LIMITS, Room, type RoomLimits, readyMessage } from "./room.js";
import { UserLink } from "./user-link.js";

/**
 * firstMessageMs: the first message (open or join) must come within this long; socketsPerUser:
 * terminal WebSockets one user may have open at once (shells, watching, not yet opened).
 */
export interface EndpointLimits extends RoomLimits, UserSocketLimits {}

export const DEFAULT_ENDPOINT_LIMITS: EndpointLimits = {
  ...DEFAULT_ROOM_LIMITS,
  firstMessageMs: 10_000,
  socketsPerUser: 64,
};

const checkOpen = validator(TerminalOpen);
const checkJoin = validator(TerminalJoin);
const checkGrant = validator(TerminalGrant);

type Deps = Pick<CapabilityContext, "accounts" | "devices" | "tunnels" | "config">;

export class TerminalEndpoint {
  private readonly rooms = new Map<string, Room>();
  private readonly sockets: UserSockets<UserLink>;
  /** The upgrade handler (ServerCapability.websockets). */
  readonly upgrade: UserSockets<UserLink>["upgrade"];

  constructor(
    private readonly d: Deps,
    private readonly log: Logger,
    private readonly o: EndpointLimits = DEFAULT_ENDPOINT_LIMITS,
  ) {
    this.sockets = new UserSockets(d, log, {
      label: "terminal",
      firstMessage: "open or join message",
      limits: o,
      link: (ws, p, req) => new UserLink(ws, p, req.headers["x-tether-client"] === "cli" ? "cli" : "console"),
      accept: (link) => this.accept(link),
    });
    this.upgrade = this.sockets.upgrade;
  }

  private accept(link: UserLink): void {
    let room: Room | null = null;
    let phase: "first" | "opening" | "ready" = "first";
    link.on("text", (text: string) => {
      let m: unknown;
      try {
        m = JSON.parse(text);
      } catch {
        return link.protocolError("a text message must be JSON");
      }
      const type = (m as { type?: unknown } | null)?.type;
      if (phase === "first") {
        phase = "opening";
        if (type === "open" && checkOpen.check(m))
          return void this.open(link, m).then((r) => {
            room = r;
            phase = "ready";
          });
        if (type === "join" && checkJoin.check(m)) {
          room = this.join(link, m);
          phase = "ready";
          return;
        }
        return link.protocolError(problem(m, type === "join" ? checkJoin : checkOpen));
      }
      if (type === "grant" && checkGrant.check(m)) {
        if (room) room.grant(link, m.user, m.write);
        else link.send({ type: "notice", message: "the session is not open yet" });
        return;
      }
      link.protocolError(type === "grant" ? problem(m, checkGrant) : "only grant may follow open or join");
    });
  }

  /** `open`: a shell (or command) on the device; the link becomes the session's owner. */
  private async open(link: UserLink, m: TerminalOpen): Promise<Room | null> {
    const p = link.principal;
    try {
      if (m.argv && m.command !== undefined)
        throw new TetherError("TETHER_ERR_BAD_REQUEST", "give argv or command, not both");
      const device = await this.d.devices.findAccepted(p.projectId, m.device);
      if (link.closed) return null;
      const session = await this.d.tunnels.open({
        principal: p,
        device,
        via: link.via,
        spec: {
          kind: "shell",
          shell: {
            pty: m.pty
              ? {
                  cols: clampSize(m.pty.cols, TUNNEL_LIMITS.maxCols),
                  rows: clampSize(m.pty.rows, TUNNEL_LIMITS.maxRows),
                  ...(m.pty.term ? { term: m.pty.term } : {}),
                }
              : null,
            ...(m.user !== undefined ? { user: m.user } : {}),
            ...(m.argv ? { argv: m.argv } : {}),
            ...(m.command !== undefined ? { command: m.command } : {}),
          },
        },
      });
      // The user left while the device dialled back: the session has nobody to serve.
      if (link.closed) {
        session.close("closed", `${p.username} left before the session opened`);
        return null;
      }
      // `ready` goes first: the room starts relaying output (and participants) at once.
      link.send(readyMessage(session, "owner"));
      const room = new Room(session, link, this.o, this.log, (r) => this.rooms.delete(r.id));
      if (session.ended) return null;
      this.rooms.set(session.id, room);
      return room;
    } catch (err) {
      link.refuse(err, this.log, "terminal");
      return null;
    }
  }

  /** `join`: watch a live session of the same project, read-only until granted. */
  private join(link: UserLink, m: TerminalJoin): Room | null {
    const p = link.principal;
    const live = this.d.tunnels.live(p.projectId, m.session);
    const room = live ? this.rooms.get(live.id) : undefined;
    if (!room || room.projectId !== p.projectId) {
      link.refuse(
        new TetherError(
          "TETHER_ERR_SESSION_NOT_FOUND",
          live
            ? `session ${m.session} is not a terminal of the console or the CLI; it cannot be watched`
            : `no live session ${m.session} in project ${p.project}`,
        ),
        this.log,
        "terminal",
      );
      return null;
    }
    room.join(link);
    return room;
  }

  /**
   * A user lost access: their connections that watch a session, or have not opened one yet,
   * close (4009). Sessions the user owns are the layer's to end (it ends them as revoked).
   * Like the layer: a role change closes only below operator; a revoked token closes the
   * connections made with a token.
   */
  async userChanged(change: UserChange): Promise<void> {
    const theirs = [...this.sockets.links].filter(
      (l) =>
        l.principal.userId === change.userId &&
        (change.projectId === undefined || change.projectId === l.principal.projectId) &&
        ![...this.rooms.values()].some((r) => r.ownedBy(l)),
    );
    for (const link of theirs) {
      let lost = true;
      if (change.kind === "token-revoked") lost = link.principal.via === "token";
      if (change.kind === "role-changed") {
        const role = await this.d.accounts.roleIn(change.userId, link.principal.projectId);
        lost = !role || !hasRole({ ...link.principal, role }, "operator");
      }
      if (lost)
        link.end(TUNNEL_CLOSE.revoked, {
          type: "error",
          code: "TETHER_ERR_TUNNEL_CLOSED",
          message: "your access to this project changed; open or join again if you still may",
        });
    }
  }

  /** Server shutdown (after the layer ended every session): whatever is left closes. */
  async close(): Promise<void> {
    this.sockets.close();
  }

  /** Live numbers (tests, metrics). */
  stats(): { sockets: number; rooms: number } {
    return { sockets: this.sockets.links.size, rooms: this.rooms.size };
  }
}

/** The first problem a validator finds, as one line. */
function problem(m: unknown, v: { parse(x: unknown): unknown }): string {
  try {
    v.parse(m);
    return "unexpected message";
  } catch (err) {
    return `${(err as Error).message}; the first message must be {"type":"open",…} or {"type":"join",…}`;
  }
}
