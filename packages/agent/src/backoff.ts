/** Jittered exponential backoff ("full jitter"), so a server restart causes no stampede. */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly baseMs = 1000,
    private readonly maxMs = 60_000,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const cap = Math.min(this.maxMs, this.baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.floor(this.random() * cap) + Math.floor(this.baseMs / 4);
  }

  /** A refusal (revoked, bad credentials) backs off hard: straight to the cap. */
  hard(): number {
    this.attempt = 30;
    return this.maxMs;
  }

  reset(): void {
    this.attempt = 0;
  }
}
