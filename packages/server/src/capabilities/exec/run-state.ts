/** What this process remembers about runs between messages (never needed after a restart). */
import type { Kysely } from "kysely";
import type { ExecDB } from "./schema.js";
import type { ExecStore } from "./store.js";

export interface RunMeta {
  limit: number;
  deviceName: string;
}

const key = (cmd: string, deviceId: string) => `${cmd}/${deviceId}`;

export class RunState {
  private readonly meta = new Map<string, RunMeta | null>();
  /** Runs this process has marked running (so `exec.started` needs no second write). */
  private readonly running = new Set<string>();

  constructor(private readonly store: ExecStore) {}

  async runMeta(cmd: string, deviceId: string, db: Kysely<ExecDB> = this.store.db): Promise<RunMeta | null> {
    const k = key(cmd, deviceId);
    if (this.meta.has(k)) return this.meta.get(k)!;
    const m = await this.store.runMeta(db, cmd, deviceId);
    if (this.meta.size > 100_000) this.meta.clear();
    this.meta.set(k, m);
    return m;
  }

  markRunning(cmd: string, deviceId: string): void {
    this.running.add(key(cmd, deviceId));
  }

  isRunning(cmd: string, deviceId: string): boolean {
    return this.running.has(key(cmd, deviceId));
  }

  /** The run ended: forget it. */
  ended(cmd: string, deviceId: string, o: { keepMeta?: boolean } = {}): void {
    this.running.delete(key(cmd, deviceId));
    if (!o.keepMeta) this.meta.delete(key(cmd, deviceId));
  }
}
