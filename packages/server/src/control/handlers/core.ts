/** What the transport's own handlers reach (the capabilities' handlers reach none of it). */
import type { DeviceRow } from "../../devices.js";
import type { Outbox, OutboxMessage } from "../outbox.js";
import type { Presence } from "../presence.js";
import type { Sessions } from "../sessions.js";

export interface CoreParts {
  presence: Presence;
  outbox: Outbox;
  sessions: Sessions;
  /** Runs the capability's on-delivered callback for an acknowledged durable message. */
  delivered(device: DeviceRow, m: OutboxMessage): Promise<void>;
}
