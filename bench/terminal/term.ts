/**
 * One interactive terminal as bench:terminal sees it, whatever carries it (Tether's web-terminal
 * WebSocket, `ssh -tt`, WeTTY's socket.io): bytes in, bytes out, and a way to stop reading at
 * the transport (a client that stops reading: the carrier's flow control must hold the flood).
 * Every path runs the same shell, `bash --norc --noprofile` with PS1 = PROMPT, so the same
 * markers mean the same thing on each.
 */

/** The shell's prompt: characters base64 output never contains, so it cannot appear by chance. */
export const PROMPT = "TB-PROMPT> ";
/** What every path runs: a bare interactive bash whose prompt is PROMPT (sh -c syntax). */
export const SHELL_COMMAND = `PS1='${PROMPT}' exec bash --norc --noprofile`;

export interface Term {
  readonly label: string;
  write(data: string): void;
  /** The one listener for output (replaces the previous one). */
  onData(fn: (chunk: Buffer) => void): void;
  /** Stop reading from the transport (TCP backpressure reaches the sender)… */
  pause(): void;
  /** …and read again. */
  resume(): void;
  /** Why the connection ended by itself (the server closed it, the process exited); null while open. */
  ended(): string | null;
  close(): Promise<void>;
}

/**
 * Resolves when `marker` has arrived on `term` (searching only output that arrives after the
 * call), with its arrival time (performance.now()) and the bytes seen until then. With `then`,
 * it resolves only once that marker has also arrived after the first (the prompt after a
 * command's output), still with the first marker's time.
 */
export function waitFor(
  term: Term,
  marker: string,
  timeoutMs = 30_000,
  what = JSON.stringify(marker),
  then?: string,
): Promise<{ at: number; bytes: number }> {
  const needles = [marker, ...(then ? [then] : [])].map((m) => Buffer.from(m));
  let k = 0;
  /** The last bytes searched (fewer than the needle), where a marker split across chunks starts. */
  let tail: Buffer = Buffer.alloc(0);
  let last: Buffer = Buffer.alloc(0);
  let bytes = 0;
  let first: { at: number; bytes: number } | null = null;
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      term.onData(() => {});
      reject(
        new Error(
          `${term.label}: no ${what} within ${timeoutMs} ms (${bytes} bytes arrived; last: ${JSON.stringify(last.toString("latin1").slice(-120))})`,
        ),
      );
    }, timeoutMs);
    term.onData((chunk) => {
      const at = performance.now();
      bytes += chunk.length;
      last = chunk;
      // Searched in place: a 100 MB `cat` must not be copied by the one who measures it.
      let pos = 0;
      for (;;) {
        const needle = needles[k]!;
        let end = -1;
        if (tail.length) {
          const joint = Buffer.concat([tail, chunk.subarray(pos, pos + needle.length - 1)]);
          const i = joint.indexOf(needle);
          if (i >= 0) end = pos + i + needle.length - tail.length;
        }
        if (end < 0) {
          const i = chunk.indexOf(needle, pos);
          if (i >= 0) end = i + needle.length;
        }
        if (end < 0) break;
        first ??= { at, bytes };
        pos = end;
        tail = Buffer.alloc(0);
        if (++k === needles.length) {
          clearTimeout(t);
          term.onData(() => {});
          resolve(first);
          return;
        }
      }
      const keep = needles[k]!.length - 1;
      const rest = chunk.subarray(Math.max(pos, chunk.length - keep));
      if (keep === 0) tail = Buffer.alloc(0);
      else tail = rest.length >= keep ? Buffer.from(rest) : Buffer.concat([tail, rest]).subarray(-keep);
    });
  });
}

/** Opens a term and waits for its first prompt. */
export async function ready(open: () => Promise<Term>, label: string): Promise<Term> {
  const term = await open();
  try {
    // The prompt may already be on its way: the opener buffers output until onData is set.
    await waitFor(term, PROMPT, 30_000, `first prompt on ${label}`);
  } catch (err) {
    await term.close().catch(() => {});
    throw err;
  }
  return term;
}

/**
 * The output side every Term implementation shares: chunks that arrive before the first
 * listener is set are kept and handed to it (a prompt may come before anyone waits for it).
 */
export class Sink {
  private fn: ((chunk: Buffer) => void) | null = null;
  private early: Buffer[] = [];
  set(fn: (chunk: Buffer) => void): void {
    this.fn = fn;
    if (this.early.length) {
      const all = Buffer.concat(this.early);
      this.early = [];
      fn(all);
    }
  }
  push(chunk: Buffer): void {
    if (this.fn) this.fn(chunk);
    else if (this.early.length < 1000) this.early.push(chunk);
  }
}
