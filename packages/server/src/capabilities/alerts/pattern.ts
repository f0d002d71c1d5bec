/**
 * Log patterns of alert rules: RE2 syntax, compiled with re2js (a linear-time engine: no
 * backtracking, so a pattern such as `(a+)+$` cannot take exponential time), matched against
 * at most the first MATCH_CHARS characters of a line. Features that need backtracking
 * (backreferences, lookaround) are refused with TETHER_ERR_PATTERN_UNSAFE; a pattern whose
 * program is too large (e.g. `[a-z]{1000}`, slow per character) too.
 */
import { TetherError } from "@tether/protocol";
import { RE2JS } from "re2js";

/** Characters of a line a pattern is matched against. */
export const MATCH_CHARS = 4096;
/** Instructions of a compiled pattern (keeps the per-character cost small). */
export const MAX_PROGRAM = 600;

export interface LogMatcher {
  test(message: string): boolean;
}

const UNSAFE = [
  { re: /invalid escape sequence: `\\[1-9]/, what: "backreferences (\\1 … \\9)" },
  { re: /unsupported Perl syntax: `\(\?[=!]/, what: "lookahead ((?= and (?!)" },
  { re: /invalid named capture: `\(\?<[=!]/, what: "lookbehind ((?<= and (?<!)" },
  { re: /unsupported Perl syntax: `\(\?<[=!]/, what: "lookbehind ((?<= and (?<!)" },
  { re: /invalid escape sequence: `\\k/, what: "named backreferences (\\k<name>)" },
];

export function compilePattern(pattern: string): LogMatcher {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    const msg = (err as Error).message.replace(/^error parsing regexp: /, "");
    const unsafe = UNSAFE.find((u) => u.re.test((err as Error).message));
    if (unsafe)
      throw new TetherError(
        "TETHER_ERR_PATTERN_UNSAFE",
        `the log pattern ${JSON.stringify(pattern)} uses ${unsafe.what}, which needs backtracking (time that can grow exponentially with the line); log patterns use RE2 syntax, matched in linear time (${msg})`,
      );
    throw new TetherError(
      "TETHER_ERR_PATTERN_INVALID",
      `the log pattern ${JSON.stringify(pattern)} is not valid RE2 syntax: ${msg}`,
    );
  }
  // The program size is internal to re2js; when it is not there, the pattern's length bounds it.
  const size = (re.re2() as unknown as { prog?: { inst?: unknown[] } }).prog?.inst?.length;
  if (size !== undefined && size > MAX_PROGRAM)
    throw new TetherError(
      "TETHER_ERR_PATTERN_UNSAFE",
      `the log pattern ${JSON.stringify(pattern)} is too large to match quickly (${size} program steps, at most ${MAX_PROGRAM}); use smaller repetition counts`,
    );
  return {
    test: (message) => re.test(message.length > MATCH_CHARS ? message.slice(0, MATCH_CHARS) : message),
  };
}
