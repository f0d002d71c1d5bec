import type { DownHandler } from "../handler-types.js";

/**
 * `credential.rotate` (durable): store the new broker secret beside the current one
 * (identity.json, fsynced) before the ack; the server applies it after the ack, and the
 * next connection tries it first (docs/protocol.md §7).
 */
export const credentialRotate: DownHandler<"credential.rotate"> = {
  durable: true,
  handle({ client }, body) {
    client.storeNextPassword(body.password);
    return [];
  },
};
