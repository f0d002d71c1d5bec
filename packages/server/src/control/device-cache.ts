/**
 * Device rows on the frame path come from memory: a database read per frame was the largest
 * Tether-specific cost of a round trip. Every writer of the fields used here (state, keys,
 * shard, handshake counter) goes through invalidate() or updates the cached row.
 */
import type { DeviceRow, Devices } from "../devices.js";

export class DeviceCache {
  private readonly rows = new Map<string, DeviceRow>();

  constructor(
    private readonly devices: Devices,
    private readonly max = 100_000,
  ) {}

  async get(id: string): Promise<DeviceRow | undefined> {
    const hit = this.rows.get(id);
    if (hit) return hit;
    const row = await this.devices.get(id);
    if (row && this.rows.size < this.max) this.rows.set(id, row);
    return row;
  }

  invalidate(id: string): void {
    this.rows.delete(id);
  }
}
