/**
 * Broker secret rotation (docs/protocol.md §7–8): a new secret goes to the agent through the
 * durable outbox; the agent stores it beside the old one before its ack; only after that ack
 * does the broker accept it (embedded: the stored digest; Mosquitto: the dynsec password) and
 * the device is reconnected so the new secret is proven at once and the old one forgotten.
 */
import type { CapabilityContext } from "../../capability.js";
import type { DeviceRow } from "../../devices.js";
import { digest, randomToken } from "../../security/secrets.js";

export class Credentials {
  constructor(private readonly ctx: CapabilityContext) {}

  /** Queue a new secret for the device; resolves with the message id. */
  rotate(device: DeviceRow): Promise<number> {
    return this.ctx.link.enqueue(device, "credential.rotate", { password: randomToken(32) });
  }

  /** The agent has stored the new secret (its ack): make the broker take it. */
  async applied(device: DeviceRow, password: string, mid: number): Promise<void> {
    const current = await this.ctx.devices.get(device.id);
    if (current?.state !== "accepted") return;
    await this.ctx.devices.update(device.id, { broker_password_hash: digest(password) });
    await this.ctx.broker.applySecret(current, password);
    await this.ctx.audit.write({
      actor: `device:${device.id}`,
      action: "device.credential-applied",
      projectId: device.project_id,
      deviceId: device.id,
      detail: { name: device.name, mid },
    });
    this.ctx.log.info({ deviceId: device.id }, "rotated broker credential applied");
  }
}
