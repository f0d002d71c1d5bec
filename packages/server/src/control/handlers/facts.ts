import type { UpHandler } from "../handler-types.js";

/** `facts` (durable): the device's facts changed. */
export const facts =
  (): UpHandler<"facts"> =>
  async ({ device, trx }, body) => {
    await trx
      .updateTable("devices")
      .set({ facts: JSON.stringify(body.facts) })
      .where("id", "=", device.id)
      .execute();
  };
