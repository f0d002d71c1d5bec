import type { DownHandler } from "../handler-types.js";

/** `exec.cancel` (durable): kill the command's process group, or never start it. */
export const execCancel: DownHandler<"exec.cancel"> = {
  durable: true,
  handle: ({ client }, body) => client.exec.cancel(body),
};
