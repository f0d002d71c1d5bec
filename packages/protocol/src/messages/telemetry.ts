/** The device telemetry token's delivery over the control channel (docs/protocol.md §14.1). */
import { Type } from "typebox";
import { TELEMETRY_TOKEN_PATTERN } from "../telemetry.js";
import { type CapabilityMessages, durable } from "./message.js";

export const telemetryMessages = {
  up: {},
  down: {
    /**
     * A telemetry token (the first one, or a replacement): the agent stores it durably beside
     * the one it has before its ack and uses it from then on; the server retires the old
     * token only after that ack, so a device offline for a week can still upload its buffer.
     */
    "telemetry.token": durable(
      Type.Object(
        {
          token: Type.String({ pattern: TELEMETRY_TOKEN_PATTERN }),
          /** The ingest URL (HTTPS); absent: the agent's API URL + /api/v1/telemetry/batches. */
          url: Type.Optional(Type.String({ maxLength: 2048 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
} as const satisfies CapabilityMessages;
