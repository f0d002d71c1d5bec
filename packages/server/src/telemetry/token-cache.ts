/**
 * The ingest path's token lookup cache (docs/protocol.md §14.1): digest → device and slot, a
 * bounded LRU, so an upload costs one hash and a map lookup, never a slow password hash.
 * Every change of a device's tokens (rotate, deliver, use of the next one, revoke, delete)
 * forgets that device's entries and bumps the epoch, so a lookup that read the database
 * before the change cannot put a stale answer back (./tokens.ts checks the epoch).
 */
export type TokenSlot = "current" | "next";

export interface CachedToken {
  deviceId: string;
  slot: TokenSlot;
}

export class TokenCache {
  private readonly byDigest = new Map<string, CachedToken>();
  private readonly byDevice = new Map<string, Set<string>>();
  /** Bumped by every invalidation. */
  epoch = 0;

  constructor(private readonly max = 100_000) {}

  get size(): number {
    return this.byDigest.size;
  }

  get(digest: string): CachedToken | undefined {
    const hit = this.byDigest.get(digest);
    if (hit) {
      // Most recently used last: Map keeps insertion order.
      this.byDigest.delete(digest);
      this.byDigest.set(digest, hit);
    }
    return hit;
  }

  /** Remember a lookup made at `epoch`; dropped when the tokens changed meanwhile. */
  set(digest: string, v: CachedToken, epoch: number): void {
    if (epoch !== this.epoch) return;
    this.drop(digest);
    if (this.byDigest.size >= this.max) this.drop(this.byDigest.keys().next().value as string);
    this.byDigest.set(digest, v);
    const s = this.byDevice.get(v.deviceId) ?? new Set<string>();
    this.byDevice.set(v.deviceId, s);
    s.add(digest);
  }

  forgetDevice(deviceId: string): void {
    this.epoch++;
    for (const d of this.byDevice.get(deviceId) ?? []) this.byDigest.delete(d);
    this.byDevice.delete(deviceId);
  }

  clear(): void {
    this.epoch++;
    this.byDigest.clear();
    this.byDevice.clear();
  }

  private drop(digest: string): void {
    const v = this.byDigest.get(digest);
    if (!v) return;
    this.byDigest.delete(digest);
    const s = this.byDevice.get(v.deviceId);
    s?.delete(digest);
    if (s?.size === 0) this.byDevice.delete(v.deviceId);
  }
}
