import { nowIso } from "../../store/db.js";
import type { UpHandler } from "../handler-types.js";

/** `echo.reply` (durable): the agent's answer to a durable `echo`; a delivery probe. */
export const echoReply: UpHandler<"echo.reply"> = {
  durable: true,
  async handle({ device, control, trx, after }, body) {
    await trx
      .insertInto("echo_replies")
      .values({ device_id: device.id, ref: body.ref, data: body.data, received_at: nowIso() })
      .execute();
    after(() => control.resolveEcho(device.id, body.ref, body.data));
  },
};
