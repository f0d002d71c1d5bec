/**
 * One forwarded connection on the server (docs/protocol.md §17.5): the client's OPEN on the
 * user leg becomes a tunnel channel to the device, answered OPEN_OK once the device connected
 * or OPEN_FAIL with its code (FORWARD_FAILED: refused, timed out, host not found on the device;
 * FORWARD_NOT_ALLOWED; TUNNEL_LIMIT), then the two are bridged. A failed connection leaves the
 * session and its other connections as they were.
 */
import { TetherError } from "@tether/protocol";
import type { MuxChannel } from "@tether/protocol/tunnel-mux";
import type { Logger } from "pino";
import type { TunnelSession } from "../../tunnels/index.js";
import { bridge } from "./bridge.js";

export interface Destination {
  host: string;
  port: number;
}

const norm = (h: string) => h.toLowerCase().replace(/^\[(.*)\]$/, "$1");
const shown = (d: Destination) =>
  norm(d.host).includes(":") ? `[${norm(d.host)}]:${d.port}` : `${d.host}:${d.port}`;

/** Serve the client's OPEN of channel `u` to host:port on a forward to `dest`. */
export function serveChannel(
  session: TunnelSession,
  dest: Destination,
  u: MuxChannel,
  asked: Destination,
  log: Logger,
): void {
  u.on("error", () => {});
  // A forward session names one destination (the allow-list was checked for it at open).
  if (norm(asked.host) !== norm(dest.host) || asked.port !== dest.port) {
    u.fail(
      "TETHER_ERR_FORWARD_NOT_ALLOWED",
      `this forward goes to ${shown(dest)} only, not ${shown(asked)}; open another forward for it`,
    );
    return;
  }
  session.openChannel(dest.host, dest.port).then(
    (t) => {
      // The client gave up on this connection while the device connected.
      if (u.destroyed) {
        t.destroy();
        return;
      }
      u.ready();
      bridge(u, t);
    },
    (err: unknown) => {
      const e =
        err instanceof TetherError
          ? err
          : new TetherError("TETHER_ERR_FORWARD_FAILED", "the connection could not be forwarded");
      if (!(err instanceof TetherError)) log.error({ err, session: session.id }, "forward: open failed");
      u.fail(e.code, e.message);
    },
  );
}
