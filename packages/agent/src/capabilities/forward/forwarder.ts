/**
 * The device's side of port forwarding (docs/protocol.md §17.5): each tcp channel the tunnel
 * layer hands over becomes one TCP connection, after checking the destination again (the
 * server checked it; the device does not trust that alone) and the device's cap on forwarded
 * connections open at once.
 */
import type net from "node:net";
import { destinationAllowed, TUNNEL_LIMITS } from "@tether/protocol";
import type { Logger } from "pino";
import type { TcpHandler } from "../../tunnels/index.js";
import { forwardConnection } from "./connect.js";

export interface ForwarderOptions {
  log: Logger;
  /** Most forwarded connections open at once on this device, over all sessions (default 256). */
  maxConnections?: number;
  /** Connect timeout per connection (default 10 s). */
  connectTimeoutMs?: number;
}

export interface Forwarder {
  /** The handler the tunnel layer calls for each new tcp channel. */
  readonly handle: TcpHandler;
  /** Connections open (or connecting) right now. */
  count(): number;
  /** Agent stopping: drop every connection. */
  closeAll(): void;
}

export function createForwarder(o: ForwarderOptions): Forwarder {
  const max = o.maxConnections ?? TUNNEL_LIMITS.maxChannels;
  const connectTimeoutMs = o.connectTimeoutMs ?? 10_000;
  const open = new Set<net.Socket>();

  const handle: TcpHandler = (session, ch, { host, port }) => {
    if (!destinationAllowed(session.allow, host, port)) {
      o.log.warn({ session: session.id, host, port }, "forward destination not on the allow-list");
      ch.fail("TETHER_ERR_FORWARD_NOT_ALLOWED", `${host}:${port} is not on the project's forward allow-list`);
      return;
    }
    if (open.size >= max) {
      o.log.warn({ session: session.id, max }, "too many forwarded connections");
      ch.fail(
        "TETHER_ERR_FORWARD_FAILED",
        `the device already has ${max} forwarded connections open; close some and retry`,
      );
      return;
    }
    const socket = forwardConnection(ch, host, port, { connectTimeoutMs });
    open.add(socket);
    socket.once("close", () => open.delete(socket));
  };

  return {
    handle,
    count: () => open.size,
    closeAll() {
      for (const s of open) s.destroy();
    },
  };
}
