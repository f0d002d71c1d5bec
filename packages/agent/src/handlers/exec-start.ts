import type { DownHandler } from "../handler-types.js";

/** `exec.start` (durable): run a command once (docs/protocol.md §13). */
export const execStart: DownHandler<"exec.start"> = {
  durable: true,
  handle: ({ client }, body) => client.exec.start(body),
};
