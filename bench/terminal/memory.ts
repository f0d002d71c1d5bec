/**
 * Memory under a flood: `yes` in a shell for `seconds`, with a client that reads (and so grants
 * window as it goes) or one that stops reading after the first second. The RSS (VmRSS) of each
 * watched process (server, agent; WeTTY's server as the peer) is sampled every 250 ms; growth
 * = the highest sample − the settled RSS before `yes` started. Then ^C, the client reads again
 * and the prompt must come back (what was held in flight arrives; its size is reported).
 * A first flood of WARMUP_S (read normally, not counted) comes before the baseline: a process
 * that has never carried a flood grows its V8 young generation to full size on the first one
 * (up to 3 × 16 MiB in Node 20), once, whatever the flow control does; that one-off growth is
 * reported apart (`coldKiB`: the settled RSS before the warm-up).
 */
import { progress, rssKiB, settledRss, sleep } from "../lib/util.js";
import { ctrlC, waitForBytes } from "./measure.js";
import { PROMPT, type Term, waitFor } from "./term.js";

export interface FloodResult {
  reading: boolean;
  seconds: number;
  /** Bytes the client received during the flood. */
  bytes: number;
  /** MB/s the client received. */
  rate: number;
  /** Per watched process: settled RSS before, highest during, last sample (KiB). */
  procs: Record<
    string,
    { coldKiB: number; beforeKiB: number; maxKiB: number; endKiB: number; growthMB: number }
  >;
  /** Non-reading: bytes that arrived after the client read again (what was in flight). */
  heldBytes: number | null;
  /** ms from ^C to the prompt at the end (NaN when the connection had ended). */
  interruptMs: number;
  /** The connection ended during the flood (a server that drops a client that does not read). */
  ended: string | null;
}

const WARMUP_S = 3;

export async function flood(
  term: Term,
  watch: Record<string, number>,
  o: { seconds: number; reading: boolean },
): Promise<FloodResult> {
  const cold: Record<string, number> = {};
  for (const [name, pid] of Object.entries(watch)) cold[name] = (await settledRss(pid)).kib;
  const warm = waitForBytes(term, 64 * 1024, 20_000);
  term.write("yes\r");
  await warm;
  term.onData(() => {});
  await sleep(WARMUP_S * 1000);
  await ctrlC(term);
  const before: Record<string, number> = {};
  for (const [name, pid] of Object.entries(watch)) before[name] = (await settledRss(pid)).kib;
  const max: Record<string, number> = { ...before };
  const last: Record<string, number> = { ...before };
  const sample = () => {
    for (const [name, pid] of Object.entries(watch)) {
      try {
        last[name] = rssKiB(pid);
        max[name] = Math.max(max[name]!, last[name]!);
      } catch {} // exited: reported by the caller's next step
    }
  };
  let bytes = 0;
  const started = waitForBytes(term, 64 * 1024, 20_000);
  term.write("yes\r");
  await started;
  term.onData((c) => {
    bytes += c.length;
  });
  const t0 = performance.now();
  let heldBytes: number | null = null;
  if (!o.reading) {
    await sleep(1000);
    term.pause();
    progress(`${term.label}: flood: the client stopped reading`);
  }
  const end = t0 + o.seconds * 1000;
  while (performance.now() < end) {
    sample();
    await sleep(250);
  }
  sample();
  const seconds = (performance.now() - t0) / 1000;
  const received = bytes;
  if (term.ended()) return result(Number.NaN);
  if (!o.reading) {
    // ^C first, then read again: everything still in flight arrives before the prompt.
    const p = waitFor(term, PROMPT, 60_000, "prompt after the held flood");
    const t1 = performance.now();
    term.write("\x03");
    term.resume();
    const r = await p;
    heldBytes = r.bytes;
    return result(r.at - t1);
  }
  return result((await ctrlC(term)).ms);

  function result(interruptMs: number): FloodResult {
    const procs: FloodResult["procs"] = {};
    for (const name of Object.keys(watch))
      procs[name] = {
        coldKiB: cold[name]!,
        beforeKiB: before[name]!,
        maxKiB: max[name]!,
        endKiB: last[name]!,
        growthMB: (max[name]! - before[name]!) / 1024,
      };
    const ended = term.ended();
    if (ended) progress(`${term.label}: the connection ended during the flood: ${ended}`);
    return {
      reading: o.reading,
      seconds,
      bytes: received,
      rate: received / 1e6 / seconds,
      procs,
      heldBytes,
      interruptMs,
      ended,
    };
  }
}
