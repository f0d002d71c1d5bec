import type { UpHandler } from "../handler-types.js";

/** `exec.output`: a chunk of stdout or stderr; stored, then acknowledged (the credit). */
export const execOutput: UpHandler<"exec.output"> = {
  durable: false,
  handle: ({ device, control }, body) => control.exec.onOutput(device, body),
};
