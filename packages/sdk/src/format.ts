/** Display helpers shared by the CLI and the console (browser-safe, no I/O). */
import type { Command } from "@tether/protocol/api";

/** Quote an argv word for display the way a POSIX shell would need it. */
export function shellQuote(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`;
}

/** The command as the user would type it (a --shell command is shown as given). */
export function commandText(c: Pick<Command, "argv" | "shell">): string {
  return c.shell ? c.argv.join(" ") : c.argv.map(shellQuote).join(" ");
}
