/**
 * Revocation is one operation (docs/architecture.md §3): disable the broker credential and close the
 * connection, drop the encryption sessions, cancel queued work, blocklist the public key,
 * and run every hook that later capabilities (telemetry tokens, tunnels, terminals) join.
 */
import type { DeviceRow } from "./devices.js";

export type RevocationHook = (device: DeviceRow) => Promise<void> | void;

export class Revocation {
  private readonly hooks: { name: string; fn: RevocationHook }[] = [];

  /** Register a step; steps run in registration order and each one's failure is reported. */
  join(name: string, fn: RevocationHook): void {
    this.hooks.push({ name, fn });
  }

  async run(device: DeviceRow): Promise<{ step: string; error?: string }[]> {
    const out: { step: string; error?: string }[] = [];
    for (const h of this.hooks) {
      try {
        await h.fn(device);
        out.push({ step: h.name });
      } catch (err) {
        out.push({ step: h.name, error: (err as Error).message });
      }
    }
    return out;
  }
}
