/** A small unified diff of two texts (for non-secret text files under 64 KiB in `config diff`). */

const MAX_CELLS = 4_000_000;

/** A unified diff (3 lines of context), or null when the texts are too long to compare here. */
export function unifiedDiff(a: string, b: string, nameA: string, nameB: string): string | null {
  const lines = (t: string) => (t === "" ? [] : (t.endsWith("\n") ? t.slice(0, -1) : t).split("\n"));
  const x = lines(a);
  const y = lines(b);
  // Common prefix and suffix first: most edits are small.
  let pre = 0;
  while (pre < x.length && pre < y.length && x[pre] === y[pre]) pre++;
  let suf = 0;
  while (suf < x.length - pre && suf < y.length - pre && x[x.length - 1 - suf] === y[y.length - 1 - suf])
    suf++;
  const xs = x.slice(pre, x.length - suf);
  const ys = y.slice(pre, y.length - suf);
  const n = xs.length;
  const m = ys.length;
  if ((n + 1) * (m + 1) > MAX_CELLS) return null;
  // LCS lengths, then walk to an edit script.
  const w = m + 1;
  const L = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      L[i * w + j] =
        xs[i] === ys[j]
          ? (L[(i + 1) * w + j + 1] as number) + 1
          : Math.max(L[(i + 1) * w + j] as number, L[i * w + j + 1] as number);
  type Op = { t: " " | "-" | "+"; s: string; ai: number; bi: number };
  const ops: Op[] = [];
  for (let k = 0; k < pre; k++) ops.push({ t: " ", s: x[k] as string, ai: k, bi: k });
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && xs[i] === ys[j]) {
      ops.push({ t: " ", s: xs[i] as string, ai: pre + i, bi: pre + j });
      i++;
      j++;
    } else if (i < n && (j >= m || (L[(i + 1) * w + j] as number) >= (L[i * w + j + 1] as number))) {
      ops.push({ t: "-", s: xs[i] as string, ai: pre + i, bi: pre + j });
      i++;
    } else {
      ops.push({ t: "+", s: ys[j] as string, ai: pre + i, bi: pre + j });
      j++;
    }
  }
  for (let k = 0; k < suf; k++)
    ops.push({ t: " ", s: x[x.length - suf + k] as string, ai: x.length - suf + k, bi: y.length - suf + k });
  const out = [`--- ${nameA}`, `+++ ${nameB}`];
  const C = 3;
  let k = 0;
  while (k < ops.length) {
    if (ops[k]?.t === " ") {
      k++;
      continue;
    }
    let start = Math.max(0, k - C);
    let end = k;
    // Extend the hunk while changes are within 2*C lines of each other.
    for (;;) {
      while (end < ops.length && ops[end]?.t !== " ") end++;
      let next = end;
      while (next < ops.length && ops[next]?.t === " ") next++;
      if (next < ops.length && next - end <= 2 * C) end = next;
      else break;
    }
    const stop = Math.min(ops.length, end + C);
    const h = ops.slice(start, stop);
    const aLen = h.filter((o) => o.t !== "+").length;
    const bLen = h.filter((o) => o.t !== "-").length;
    const first = h[0] as Op;
    out.push(`@@ -${first.ai + (aLen ? 1 : 0)},${aLen} +${first.bi + (bLen ? 1 : 0)},${bLen} @@`);
    for (const o of h) out.push(`${o.t}${o.s}`);
    k = stop;
    start = stop;
  }
  return `${out.join("\n")}\n`;
}
