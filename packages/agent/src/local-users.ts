/**
 * Local accounts, read from /etc/passwd: who `exec --user` (docs/protocol.md §13) and a
 * terminal session's user (§17.4) run as. A core module because two capabilities share it.
 */
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
  return findUser((f) => f[0] === name, passwd);
}

/** The account with this uid (the agent's own, to give its shells HOME and SHELL). */
export function lookupUid(uid: number, passwd = "/etc/passwd"): LocalUser | null {
  return findUser((f) => Number(f[2]) === uid, passwd);
}

function findUser(match: (fields: string[]) => boolean, passwd: string): LocalUser | null {
  let text: string;
  try {
    text = readFileSync(passwd, "utf8");
  } catch {
    return null;
  }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length >= 7 && match(f)) {
      const uid = Number(f[2]);
      const gid = Number(f[3]);
      if (f[2] === "" || f[3] === "" || !Number.isInteger(uid) || !Number.isInteger(gid)) return null;
      return { name: f[0], uid, gid, home: f[5], shell: f[6] };
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
