/**
 * Liveness and delivery probes (docs/protocol.md §7): `ping` is answered at once with no
 * durable write; `echo` (durable) with a durable `echo.reply` carrying the same data.
 */
import type { CapabilityModule } from "../../capability.js";
import type { Link } from "../../control/link.js";

export const ping: CapabilityModule<"ping", "ping" | "echo", Link> = {
  name: "ping",
  create: ({ link }) => link,
  handlers: {
    ping(link, body) {
      link.sendNow("pong", { ref: body.ref });
      return undefined;
    },
    echo: (link, body) => [link.outgoing("echo.reply", { ref: body.ref, data: body.data })],
  },
};
