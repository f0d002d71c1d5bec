/** Transport messages of the control channel itself (docs/protocol.md §7–9). */
import { type Static, Type } from "typebox";
import { type CapabilityMessages, durable, plain } from "./message.js";

export const Facts = Type.Object(
  {
    os: Type.String({ maxLength: 64 }),
    osRelease: Type.String({ maxLength: 128 }),
    kernel: Type.String({ maxLength: 128 }),
    arch: Type.String({ maxLength: 32 }),
    hostname: Type.String({ maxLength: 255 }),
    addresses: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 64 }),
    agentVersion: Type.String({ maxLength: 32 }),
    cpus: Type.Optional(Type.Integer({ minimum: 0 })),
    memoryBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type Facts = Static<typeof Facts>;

/** The `ack` schema caps ids per message. */
export const MAX_ACK_IDS = 4096;
const Mids = Type.Array(Type.Integer({ minimum: 1 }), { maxItems: MAX_ACK_IDS });
const Hex = (len: number) => Type.String({ pattern: `^[0-9a-f]{${len}}$` });

export const coreMessages = {
  up: {
    /** First message under a new key; marks the device online (§9). */
    hello: plain(
      Type.Object(
        { connId: Hex(32), agentVersion: Type.String({ maxLength: 32 }), facts: Facts },
        { additionalProperties: false },
      ),
    ),
    /** The agent has durably received these downstream message ids (§8). */
    ack: plain(Type.Object({ mids: Mids }, { additionalProperties: false })),
    /** Clean shutdown: brokers fire no will on a clean disconnect (§9). */
    bye: plain(Type.Object({ connId: Hex(32) }, { additionalProperties: false })),
    /** The device's facts changed. */
    facts: durable(Type.Object({ facts: Facts }, { additionalProperties: false })),
  },
  down: {
    /** The server has durably received these upstream message ids (§8). */
    ack: plain(Type.Object({ mids: Mids }, { additionalProperties: false })),
  },
} as const satisfies CapabilityMessages;
