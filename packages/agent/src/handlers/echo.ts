import type { DownHandler } from "../handler-types.js";

/** `echo` (durable): answer with a durable `echo.reply` carrying the same data. */
export const echo: DownHandler<"echo"> = {
  durable: true,
  handle({ client }, body) {
    return [client.outgoing("echo.reply", { ref: body.ref, data: body.data })];
  },
};
