/**
 * The measurements bench:terminal makes on any Term (term.ts), so each path is measured by the
 * same code: keystroke → echo, `cat` throughput, Ctrl-C → prompt.
 */
import { sleep } from "../lib/util.js";
import { PROMPT, ready, type Term, waitFor } from "./term.js";

/**
 * Puts the shell's terminal in raw mode without echo and replaces the shell by `cat`: from then
 * on each byte written comes back once, written by a process (as a shell's line editor echoes
 * a key), with nothing else on the line.
 */
export async function startEchoCat(term: Term): Promise<void> {
  // RE""ADY in the command line, READY in its output: the echo of the line cannot match.
  // Raw mode: `echo` ends its line with a bare \n, the last byte before cat's echoes.
  const p = waitFor(term, "READY", 20_000, "cat ready", "\n");
  term.write(`stty raw -echo; echo RE""ADY; exec cat\r`);
  await p;
}

/** One keystroke → its echo, in ms. */
export async function echoOnce(term: Term, i: number): Promise<number> {
  const ch = String.fromCharCode(97 + (i % 26));
  const p = waitFor(term, ch, 10_000, `echo of ${JSON.stringify(ch)}`);
  const t0 = performance.now();
  term.write(ch);
  return (await p).at - t0;
}

/**
 * `cat FILE` through the terminal: ms from the command's Enter to the end marker printed after
 * it, and the bytes received meanwhile (the PTY turns each \n into \r\n).
 */
export async function catOnce(term: Term, file: string): Promise<{ ms: number; bytes: number }> {
  const p = waitFor(term, "CAT-DONE", 600_000, "end of cat and the prompt", PROMPT);
  const t0 = performance.now();
  term.write(`cat ${file}; echo CAT-""DONE\r`);
  const r = await p;
  return { ms: r.at - t0, bytes: r.bytes };
}

/**
 * Ctrl-C during `cat /dev/urandom | base64`: once `floodBytes` of its output have arrived, 0x03
 * is typed (as a key, through the PTY's line discipline, which sends SIGINT) and the time until
 * the prompt is back is measured. Also the bytes that still arrived after the ^C.
 */
export async function interruptOnce(
  term: Term,
  floodBytes = 256 * 1024,
): Promise<{ ms: number; bytesAfter: number }> {
  const flowing = waitForBytes(term, floodBytes, 20_000);
  term.write("cat /dev/urandom | base64\r");
  await flowing;
  const r = await ctrlC(term);
  await sleep(50); // let the rest of the prompt line arrive before the next try
  return r;
}

/** Types ^C; ms until the prompt is back, and the bytes that arrived until then. */
export async function ctrlC(term: Term, timeoutMs = 30_000): Promise<{ ms: number; bytesAfter: number }> {
  const p = waitFor(term, PROMPT, timeoutMs, "prompt after Ctrl-C");
  const t0 = performance.now();
  term.write("\x03");
  const r = await p;
  return { ms: r.at - t0, bytesAfter: r.bytes };
}

/** Resolves once `n` bytes of output have arrived (from now on). */
export function waitForBytes(term: Term, n: number, timeoutMs: number): Promise<void> {
  let got = 0;
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      term.onData(() => {});
      reject(new Error(`${term.label}: only ${got} of ${n} bytes within ${timeoutMs} ms`));
    }, timeoutMs);
    term.onData((c) => {
      got += c.length;
      if (got >= n) {
        clearTimeout(t);
        term.onData(() => {});
        resolve();
      }
    });
  });
}

/** Opens `n` shells with `open`, 10 at a time; each must answer a command. */
export async function openMany(n: number, open: (i: number) => Promise<Term>): Promise<Term[]> {
  const terms: Term[] = new Array(n);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const t = await ready(() => open(i), `shell ${i}`);
      const p = waitFor(t, `OK-${i}-OK`, 30_000, `answer of shell ${i}`, PROMPT);
      t.write(`echo OK-${i}-""OK\r`);
      await p;
      terms[i] = t;
    }
  };
  await Promise.all(Array.from({ length: Math.min(10, n) }, worker));
  return terms;
}
