/** Local accounts for `exec --user` (docs/protocol.md §13), read from /etc/passwd. */
import { readFileSync } from "node:fs";
import { userInfo } from "node:os";

export interface LocalUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export function lookupUser(name: string, passwd = "/etc/passwd"): LocalUser | null {
  let text: string;
  try {
    text = readFileSync(passwd, "utf8");
  } catch {
    return null;
  }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length >= 7 && f[0] === name) {
      const uid = Number(f[2]);
      const gid = Number(f[3]);
      if (!Number.isInteger(uid) || !Number.isInteger(gid)) return null;
      return { name, uid, gid, home: f[5], shell: f[6] };
    }
  }
  return null;
}

/** The user the agent runs as: the default for commands without --user. */
export function agentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? "");
  }
}
