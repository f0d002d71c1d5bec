/**
 * The limit: OpenSSH on loopback. The benchmark's own sshd (../lib/pssh.ts: own config, host key,
 * client key and authorized_keys in a temp dir, a free port; root's ~/.bashrc hidden from its
 * sessions) and one `ssh -tt` client process per terminal, its stdin and stdout piped to this
 * process (the client's local side is not a TTY; -tt still gives the remote shell a PTY, so
 * the remote line discipline echoes and turns ^C into SIGINT, as for a person typing).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { startSshPeer } from "../lib/pssh.js";
import { SHELL_COMMAND, Sink, type Term } from "./term.js";

export interface SshPath {
  port: number;
  bashrcHidden: boolean;
  open(): Promise<Term>;
  stop(): Promise<void>;
}

/** What to do when OpenSSH is missing (the peer row is then "not measured"). */
export const SSH_MISSING =
  "OpenSSH is missing: run `apt-get install -y openssh-server openssh-client pssh` (the benchmark tries this itself as root)";

export async function startSsh(dir: string): Promise<SshPath> {
  if (!existsSync("/usr/bin/ssh")) throw new Error(SSH_MISSING);
  let peer: Awaited<ReturnType<typeof startSshPeer>>;
  try {
    peer = await startSshPeer(dir);
  } catch (err) {
    throw new Error(`${SSH_MISSING}; ${(err as Error).message}`);
  }
  const key = join(dir, "id_ed25519");
  const argv = [
    "-tt",
    "-F",
    "/dev/null",
    "-i",
    key,
    "-p",
    String(peer.port),
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "LogLevel=ERROR",
    "root@127.0.0.1",
    SHELL_COMMAND,
  ];
  const open = async (): Promise<Term> => {
    const p = spawn("ssh", argv, { stdio: ["pipe", "pipe", "pipe"] });
    const sink = new Sink();
    let err = "";
    p.stdout!.on("data", (c: Buffer) => sink.push(c));
    p.stderr!.on("data", (c: Buffer) => {
      if (err.length < 4000) err += c;
    });
    const exited = new Promise<void>((r) => p.once("close", () => r()));
    let ended: string | null = null;
    p.once("exit", (code, signal) => {
      ended = `ssh exited (${code ?? signal})${err.trim() ? `: ${err.trim()}` : ""}`;
    });
    return {
      label: "ssh",
      write: (d) => p.stdin!.write(d),
      onData: (fn) => sink.set(fn),
      pause: () => p.stdout!.pause(),
      resume: () => p.stdout!.resume(),
      ended: () => ended,
      async close() {
        if (p.exitCode === null && p.signalCode === null) {
          p.stdin!.end();
          p.kill("SIGTERM");
        }
        await exited;
      },
    };
  };
  return { port: peer.port, bashrcHidden: peer.bashrcHidden, open, stop: () => peer.stop() };
}
