/**
 * Bytes to log lines (docs/protocol.md §15): split on \n (a trailing \r is stripped), decode
 * UTF-8 with invalid bytes replaced by U+FFFD, escape control characters other than tab, and
 * cut a line longer than the limit with cutMark(n). A line is streamed: only its first
 * `maxLineBytes` bytes are ever held, the rest is counted until its \n, so a 10 MB line costs
 * no more memory than a short one.
 */
import { cutMark, LOG_LIMITS } from "@tether/protocol";

/** Room kept for the cut mark (" …[cut 9,007,199,254,740,991 bytes]" is 39 bytes). */
const MARK_ROOM = 48;

/** Text for people and the wire: control characters other than tab escaped (C0, DEL, C1). */
export function escapeControl(s: string): string {
  // Fast path: nothing to escape (the common case).
  if (!/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/.test(s)) return s;
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if ((c < 0x20 && c !== 0x09) || (c >= 0x7f && c <= 0x9f)) {
      out += c === 0x0a ? "\\n" : c === 0x0d ? "\\r" : `\\x${c.toString(16).padStart(2, "0")}`;
    } else out += ch;
  }
  return out;
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/** Bytes of a UTF-8 string, and the longest prefix that fits in `max` bytes (at a code point). */
function fitUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  const b = Buffer.from(s, "utf8");
  let end = max;
  // Back up to a code point's first byte.
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return b.subarray(0, end).toString("utf8");
}

/** Where a byte prefix ends at a complete UTF-8 sequence (a cut must not leave half a character). */
function completeUtf8(b: Buffer): Buffer {
  const n = b.length;
  for (let back = 1; back <= Math.min(3, n); back++) {
    const x = b[n - back]!;
    if ((x & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = x >= 0xf0 ? 4 : x >= 0xe0 ? 3 : x >= 0xc0 ? 2 : 1;
    return need > back ? b.subarray(0, n - back) : b;
  }
  return b;
}

export interface CleanLine {
  msg: string;
  /** Bytes removed (the text as escaped, the unseen tail counted as read); absent when whole. */
  cut?: number;
}

/**
 * One line's bytes (its first `kept.length` of `total`) as the wire's text, at most `max`
 * bytes of UTF-8 including the cut mark.
 */
export function cleanLine(kept: Buffer, total: number, max = LOG_LIMITS.maxLineBytes): CleanLine {
  const partial = total > kept.length;
  const text = escapeControl(decoder.decode(partial ? completeUtf8(kept) : kept));
  const bytes = Buffer.byteLength(text);
  if (!partial && bytes <= max) return { msg: text };
  // The whole line's length as text: what was decoded, plus the bytes never held.
  const whole = bytes + (total - kept.length);
  const room = Math.max(0, max - MARK_ROOM);
  const head = fitUtf8(text, room);
  const cut = whole - Buffer.byteLength(head);
  return { msg: head + cutMark(cut), cut };
}

/** A UTF-16 surrogate without its pair (JSON's "\ud800" escape makes one). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Decode a complete string message (journal MESSAGE, the agent's own log) the same way; a
 * lone surrogate becomes U+FFFD, as an invalid byte does.
 */
export function cleanText(s: string, max = LOG_LIMITS.maxLineBytes): CleanLine {
  const text = escapeControl(s.replace(LONE_SURROGATE, "\ufffd"));
  const bytes = Buffer.byteLength(text);
  if (bytes <= max) return { msg: text };
  const head = fitUtf8(text, Math.max(0, max - MARK_ROOM));
  const cut = bytes - Buffer.byteLength(head);
  return { msg: head + cutMark(cut), cut };
}

/**
 * A byte stream to lines. `push` calls `onLine(kept, total)` per complete line; a line's
 * bytes beyond `maxLineBytes` are counted, not kept. `consumed` is how many bytes of the
 * stream belong to complete lines (the offset a restart resumes at).
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private kept = 0;
  private total = 0;
  /** Bytes of the stream up to and including the last complete line's \n. */
  consumed = 0;
  private seen = 0;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (kept: Buffer, total: number) => void,
  ) {}

  /** Bytes of the line in progress (not yet ended by \n). */
  get pendingBytes(): number {
    return this.total;
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      const nl = chunk.indexOf(0x0a, at);
      const end = nl < 0 ? chunk.length : nl;
      this.take(chunk.subarray(at, end));
      if (nl < 0) {
        this.seen += chunk.length - at;
        return;
      }
      this.seen += end - at + 1;
      // Before the line is handed on: a batch sealed while handling it must save past it.
      this.consumed = this.seen;
      this.emit();
      at = nl + 1;
    }
  }

  /** The stream ended (a rotated file finished): a last line without \n is a line too. */
  end(): void {
    this.consumed = this.seen;
    if (this.total > 0) this.emit();
  }

  /** Forget the line in progress and start counting at `offset` (truncation, a new file). */
  reset(offset = 0): void {
    this.parts = [];
    this.kept = this.total = 0;
    this.consumed = this.seen = offset;
  }

  private take(b: Buffer): void {
    if (b.length === 0) return;
    this.total += b.length;
    // Keep one byte more than the limit so a trailing \r at exactly the limit is not mistaken for content.
    const room = this.maxLineBytes + 1 - this.kept;
    if (room <= 0) return;
    const part = b.length <= room ? b : b.subarray(0, room);
    // A copy: the chunk's buffer is reused by the reader.
    this.parts.push(Buffer.from(part));
    this.kept += part.length;
  }

  private emit(): void {
    let kept = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.kept);
    let total = this.total;
    // A \r before the \n ends the line (CRLF files); only when it was seen, not cut off.
    if (total === kept.length && kept.length > 0 && kept[kept.length - 1] === 0x0d) {
      kept = kept.subarray(0, kept.length - 1);
      total--;
    }
    if (kept.length > this.maxLineBytes) kept = kept.subarray(0, this.maxLineBytes);
    this.parts = [];
    this.kept = this.total = 0;
    this.onLine(kept, total);
  }
}
