/** Operator actions on devices, each audited. */
import { checkDeviceName, TetherError } from "@tether/protocol";
import type { Kysely } from "kysely";
import type { Principal } from "./accounts.js";
import type { Audit } from "./audit.js";
import type { DeviceRow, Devices } from "./devices.js";
import type { Revocation } from "./revocation.js";
import { nowIso } from "./store/db.js";
import type { DB } from "./store/schema.js";

export class DeviceOps {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly devices: Devices,
    private readonly audit: Audit,
    private readonly revocation: Revocation,
    /** Told after every change of a device row, so caches stay true. */
    private readonly changed: (deviceId: string) => void = () => {},
    /** Told after an accept (capabilities' deviceAccepted: a first telemetry token) and a delete. */
    private readonly hooks: {
      onAccepted?: (device: DeviceRow) => Promise<void>;
      onDeleted?: (deviceId: string) => Promise<void>;
      /** After a label change (capabilities' deviceLabelsChanged: configuration groups re-target it). */
      onLabelsChanged?: (device: DeviceRow, actor: string) => Promise<void>;
    } = {},
  ) {}

  private log(p: Principal, action: string, d: DeviceRow, detail: Record<string, unknown> = {}) {
    this.changed(d.id);
    return this.audit.write({
      actor: p.username,
      action,
      projectId: p.projectId,
      deviceId: d.id,
      detail: { name: d.name, ...detail },
    });
  }

  async accept(p: Principal, ref: string): Promise<DeviceRow> {
    const d = await this.devices.find(p.projectId, ref);
    if (d.state !== "pending" && d.state !== "rejected") {
      throw new TetherError(
        "TETHER_ERR_DEVICE_STATE",
        `device ${d.name} is ${d.state}; only pending or rejected devices can be accepted`,
      );
    }
    await this.devices.update(d.id, { state: "accepted" });
    await this.log(p, "device.accept", d, { fingerprint: d.fingerprint });
    const accepted = { ...d, state: "accepted" };
    await this.hooks.onAccepted?.(accepted);
    return accepted;
  }

  async reject(p: Principal, ref: string): Promise<DeviceRow> {
    const d = await this.devices.find(p.projectId, ref);
    if (d.state !== "pending") {
      throw new TetherError(
        "TETHER_ERR_DEVICE_STATE",
        `device ${d.name} is ${d.state}; only pending devices can be rejected (revoke accepted ones)`,
      );
    }
    await this.devices.update(d.id, { state: "rejected" });
    await this.log(p, "device.reject", d);
    return { ...d, state: "rejected" };
  }

  async revoke(p: Principal, ref: string): Promise<DeviceRow> {
    const d = await this.devices.find(p.projectId, ref);
    if (d.state === "revoked") return d;
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable("devices")
        .set({ state: "revoked", broker_password_hash: null })
        .where("id", "=", d.id)
        .execute();
      await trx
        .insertInto("blocked_keys")
        .values({ sign_key: d.sign_key, device_id: d.id, blocked_at: nowIso() })
        .onConflict((oc) => oc.column("sign_key").doNothing())
        .execute();
    });
    this.changed(d.id);
    const revoked = { ...d, state: "revoked", broker_password_hash: null };
    const steps = await this.revocation.run(revoked);
    await this.log(p, "device.revoke", d, { steps });
    return revoked;
  }

  async remove(p: Principal, ref: string): Promise<void> {
    const d = await this.devices.find(p.projectId, ref);
    if (d.state === "accepted") {
      // Deleting an accepted device revokes it first, so its key stays blocked.
      await this.revoke(p, d.id);
    }
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom("outbox").where("device_id", "=", d.id).execute();
      await trx.deleteFrom("echo_replies").where("device_id", "=", d.id).execute();
      await trx.deleteFrom("devices").where("id", "=", d.id).execute();
    });
    await this.hooks.onDeleted?.(d.id);
    await this.log(p, "device.delete", d);
  }

  async rename(p: Principal, ref: string, name: string): Promise<DeviceRow> {
    checkDeviceName(name, "device name");
    const d = await this.devices.find(p.projectId, ref);
    await this.devices.update(d.id, { name });
    await this.log(p, "device.rename", d, { from: d.name, to: name });
    return { ...d, name };
  }

  async label(p: Principal, ref: string, changes: Record<string, string | null>): Promise<DeviceRow> {
    const d = await this.devices.find(p.projectId, ref);
    const labels = await this.devices.setLabels(d, changes);
    await this.log(p, "device.label", d, { changes });
    const changed = { ...d, labels: JSON.stringify(labels) };
    await this.hooks.onLabelsChanged?.(changed, p.username);
    return changed;
  }
}
