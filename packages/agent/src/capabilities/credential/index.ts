/**
 * Broker secret rotation (docs/protocol.md §7). `credential.rotate` (durable): store the new
 * secret beside the current one (identity.json, fsynced) before the ack; the server applies
 * it after the ack, and the transport's next connection tries it first.
 */
import type { CapabilityModule } from "../../capability.js";
import type { BrokerSecrets } from "../../control/broker-secrets.js";

export const credential: CapabilityModule<"credential", "credential.rotate", BrokerSecrets> = {
  name: "credential",
  create: ({ secrets }) => secrets,
  handlers: {
    "credential.rotate"(secrets, body) {
      secrets.storeNext(body.password);
      return [];
    },
  },
};
