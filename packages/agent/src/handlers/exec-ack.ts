import type { DownHandler } from "../handler-types.js";

/** `exec.ack`: output the server has stored; opens the credit window again. */
export const execAck: DownHandler<"exec.ack"> = {
  durable: false,
  handle({ client }, body) {
    client.exec.onAck(body);
    return undefined;
  },
};
