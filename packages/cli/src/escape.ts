/**
 * Device-provided text (names, hostnames, facts, labels, server error messages that embed
 * them) must never reach the operator's terminal raw: an ESC sequence could recolour or
 * rewrite the screen, set the window title, or write the clipboard (OSC 52). The one rule
 * is here; the CLI applies it per field (escapeControl) and, as a safety net, to every
 * string it writes (guardIo). Bytes (Uint8Array) pass unchanged: that is a remote
 * command's own output, printed raw by design like ssh (README "Run commands").
 */
import type { Io } from "./io.js";

/** C0/C1 controls, DEL, zero-width and bidi/format overrides, line/paragraph separators, BOM. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
/** The same, but keeping the newline and tab that the CLI's own layout uses. */
const CONTROL_BUT_LAYOUT =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

const hex = (n: number, w: number) => n.toString(16).padStart(w, "0");

/**
 * One field of device-provided text, made visible: "\n", "\r", "\t" as such, ESC as
 * "\x1b", other bytes ≤ 0xff as "\xNN", wider ones as "\uNNNN" (like `cat -v`, but
 * unambiguous). Plain text (including non-ASCII letters) is unchanged.
 */
export function escapeControl(s: string): string {
  return s.replace(CONTROL, (c) => {
    const n = c.charCodeAt(0);
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    return n <= 0xff ? `\\x${hex(n, 2)}` : `\\u${hex(n, 4)}`;
  });
}

/**
 * A whole block of CLI output (tables, messages, JSON): every control character except
 * newline and tab becomes "\uNNNN" — visible on a terminal, and still the same string
 * inside JSON (where JSON.stringify leaves C1, DEL and U+2028 raw).
 */
export function escapeOutput(s: string): string {
  return s.replace(CONTROL_BUT_LAYOUT, (c) => `\\u${hex(c.charCodeAt(0), 4)}`);
}

/** The Io every command gets: text is escaped on its way out, bytes pass unchanged. */
export function guardIo(io: Io): Io {
  const guard = (write: (s: string | Uint8Array) => void) => (s: string | Uint8Array) =>
    write(typeof s === "string" ? escapeOutput(s) : s);
  return {
    ...io,
    stdout: guard((s) => io.stdout(s)),
    stderr: guard((s) => io.stderr(s)),
    readStdin: (max) => io.readStdin(max),
    stopSignal: () => io.stopSignal(),
  };
}
