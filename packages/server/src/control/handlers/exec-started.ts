import type { UpHandler } from "../handler-types.js";

/** `exec.started`: the command's process exists on the device (docs/protocol.md §13). */
export const execStarted: UpHandler<"exec.started"> = {
  durable: false,
  handle: ({ device, control }, body) => control.exec.onStarted(device, body),
};
