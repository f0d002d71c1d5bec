/** Calls waiting for a device's answer, by key, each with its own deadline. */
import { TetherError } from "@tether/protocol";

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class Waiters<T> {
  private readonly waiting = new Map<string, Waiter<T>>();

  /** Wait for `settle(key)`; rejects with TETHER_ERR_DEVICE_TIMEOUT after `timeoutMs`. */
  wait(key: string, timeoutMs: number, timeoutMessage: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        reject(new TetherError("TETHER_ERR_DEVICE_TIMEOUT", timeoutMessage));
      }, timeoutMs);
      this.waiting.set(key, { resolve, reject, timer });
    });
  }

  settle(key: string, value: T): void {
    const w = this.waiting.get(key);
    if (!w) return;
    clearTimeout(w.timer);
    this.waiting.delete(key);
    w.resolve(value);
  }

  /** Give up on one waiter without settling it (the request could not be sent). */
  drop(key: string): void {
    const w = this.waiting.get(key);
    if (w) clearTimeout(w.timer);
    this.waiting.delete(key);
  }

  rejectAll(err: Error): void {
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiting.clear();
  }
}
