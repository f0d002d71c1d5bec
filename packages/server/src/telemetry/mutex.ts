/**
 * One at a time: `run` chains its function after every one before it (a failure does not
 * break the chain). The stream handlers' one writer (ingest, retention) rests on it: their
 * ids and sequences are drawn in one order.
 */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.tail.then(fn);
    this.tail = r.catch(() => {});
    return r;
  }
}
