/** Broker secret rotation (docs/protocol.md §7–8). */
import { Type } from "typebox";
import { type CapabilityMessages, durable } from "./message.js";

export const credentialMessages = {
  up: {},
  down: {
    /**
     * A new broker secret: the agent stores it durably (keeping the old one) before its ack;
     * the server makes the broker accept it only after that ack; the agent tries the new
     * secret first on its next connection and drops the old one once it works.
     */
    "credential.rotate": durable(
      Type.Object(
        { password: Type.String({ pattern: "^[A-Za-z0-9_-]{43}$" }) },
        { additionalProperties: false },
      ),
    ),
  },
} as const satisfies CapabilityMessages;
