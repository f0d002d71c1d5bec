/** Tunnel requests over the control channel (docs/protocol.md §17.1). */
import { Type } from "typebox";
import { SESSION_ID_PATTERN, TUNNEL_TOKEN_PATTERN } from "../tunnel.js";
import { type CapabilityMessages, plain } from "./message.js";

const Size = Type.Object(
  {
    cols: Type.Integer({ minimum: 1, maximum: 1000 }),
    rows: Type.Integer({ minimum: 1, maximum: 1000 }),
    term: Type.String({ pattern: "^[A-Za-z0-9._+-]{1,64}$" }),
  },
  { additionalProperties: false },
);

export const tunnelMessages = {
  up: {},
  down: {
    /**
     * Dial back: open a WebSocket to the server's tunnel endpoint with this single-use token
     * (it expires in seconds). Not durable: a request that finds the device away is refused
     * to the user at once, and a late one would find its token expired.
     */
    "tunnel.open": plain(
      Type.Object(
        {
          sid: Type.String({ pattern: SESSION_ID_PATTERN }),
          token: Type.String({ pattern: TUNNEL_TOKEN_PATTERN }),
          kind: Type.Union([Type.Literal("shell"), Type.Literal("tcp")]),
          /** kind shell: what to run. Neither argv nor command: the user's login shell. */
          shell: Type.Optional(
            Type.Object(
              {
                pty: Type.Union([Size, Type.Null()]),
                user: Type.Optional(Type.String({ maxLength: 32 })),
                argv: Type.Optional(
                  Type.Array(Type.String({ maxLength: 65536 }), { minItems: 1, maxItems: 4096 }),
                ),
                command: Type.Optional(Type.String({ maxLength: 65536 })),
              },
              { additionalProperties: false },
            ),
          ),
          /** kind tcp: the destinations channels may open (the server checked each already). */
          tcp: Type.Optional(
            Type.Object(
              { allow: Type.Array(Type.String({ maxLength: 300 }), { maxItems: 256 }) },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
} as const satisfies CapabilityMessages;
