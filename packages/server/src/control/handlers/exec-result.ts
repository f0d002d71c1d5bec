import type { UpHandler } from "../handler-types.js";

/** `exec.result` (durable): how the command ended on the device. */
export const execResult: UpHandler<"exec.result"> = {
  durable: true,
  handle: ({ device, control, trx, after }, body) => control.exec.onResult(trx, device, body, after),
};
