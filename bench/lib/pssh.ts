/**
 * The fleet-exec peer: parallel-ssh (pssh) running one command over N SSH connections to
 * an OpenSSH server of the benchmark's own on loopback (own host key, own client key, own
 * sshd_config on a free port; nothing of the machine's SSH setup is used or changed).
 *
 *   const peer = await startSshPeer(tmpDir);        // installs pssh/openssh-server if missing
 *   const run = await peer.run(100, ["uname", "-a"]);  // {ms, succeeded, outputs, ...}
 *   await peer.stop();
 *
 * The hosts file names 127.0.0.1:PORT N times (pssh does not deduplicate; every run is
 * checked by counting its [SUCCESS] lines and its output lines).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { progress, sleep } from "./util.js";

export const PSSH = "/usr/bin/parallel-ssh";
export const SSHD = "/usr/sbin/sshd";

export interface PsshRun {
  ms: number;
  /** Hosts pssh reported as [SUCCESS]. */
  succeeded: number;
  /** Hosts pssh reported as [FAILURE] (with its reasons). */
  failed: number;
  failures: string[];
  /** Lines of command output (with -i each host's stdout follows its status line). */
  outputLines: number;
  exitCode: number | null;
}

export interface SshPeer {
  port: number;
  /** root's ~/.bashrc was hidden from sshd's sessions (see startSshPeer). */
  bashrcHidden: boolean;
  /** `expect` counts the output lines that match it (e.g. /^Linux /); else every output line. */
  run(n: number, argv: string[], o?: { parallelism?: number; expect?: RegExp }): Promise<PsshRun>;
  stop(): Promise<void>;
}

/** apt-get install pssh openssh-server when either tool is missing (says what it does). */
export function ensureSshTools(): void {
  const missing = [PSSH, SSHD].filter((p) => !existsSync(p));
  if (!missing.length) return;
  progress(`pssh: ${missing.join(" and ")} missing; running apt-get install -y pssh openssh-server`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  try {
    execFileSync("apt-get", ["install", "-y", "pssh", "openssh-server"], { stdio: "inherit", env });
  } catch {
    progress("pssh: install failed; running apt-get update and trying once more");
    execFileSync("apt-get", ["update"], { stdio: "inherit", env });
    execFileSync("apt-get", ["install", "-y", "pssh", "openssh-server"], { stdio: "inherit", env });
  }
  const still = [PSSH, SSHD].filter((p) => !existsSync(p));
  if (still.length) throw new Error(`pssh: still missing after apt-get: ${still.join(", ")}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once something on the port speaks SSH (sends its banner). */
function sshBanner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port, timeout: 1000 });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once("data", (d) => done(d.toString("latin1").startsWith("SSH-")));
    s.once("error", () => done(false));
    s.once("timeout", () => done(false));
  });
}

export async function startSshPeer(dir: string): Promise<SshPeer> {
  ensureSshTools();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  mkdirSync("/run/sshd", { recursive: true }); // sshd's privilege-separation directory
  const hostKey = join(dir, "ssh_host_ed25519_key");
  const clientKey = join(dir, "id_ed25519");
  const authorized = join(dir, "authorized_keys");
  const config = join(dir, "sshd_config");
  const pidFile = join(dir, "sshd.pid");
  const keygen = (file: string, comment: string) =>
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file], {
      stdio: ["ignore", "ignore", "inherit"],
    });
  keygen(hostKey, "tether-bench-host");
  keygen(clientKey, "tether-bench-client");
  execFileSync("cp", [`${clientKey}.pub`, authorized]);
  const port = await freePort();
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorized}`,
      "PermitRootLogin prohibit-password",
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "UseDNS no",
      "MaxStartups 1000:30:1000",
      "MaxSessions 1000",
      "StrictModes no",
      `PidFile ${pidFile}`,
      "LogLevel ERROR",
      "",
    ].join("\n"),
  );
  // Debian's bash sources ~/.bashrc for every command run over SSH. This machine's root
  // ~/.bashrc runs `pyenv init` (~0.2 s a session), which says nothing about SSH: sshd runs
  // in a private mount namespace where that file is empty (the rest of the system sees no
  // change). Set BENCH_SSH_KEEP_BASHRC=1 to measure with it.
  const bashrc = join(homedir(), ".bashrc");
  const hide = existsSync(bashrc) && !process.env.BENCH_SSH_KEEP_BASHRC && existsSync("/usr/bin/unshare");
  const sshdArgv = [SSHD, "-D", "-f", config, "-e"];
  let cmd = sshdArgv;
  if (hide) {
    const empty = join(dir, "empty-bashrc");
    writeFileSync(empty, "");
    cmd = [
      "/usr/bin/unshare",
      "--mount",
      "--propagation",
      "private",
      "/bin/sh",
      "-c",
      `mount --bind "$1" "$2" && shift 2 && exec "$@"`,
      "sh",
      empty,
      bashrc,
      ...sshdArgv,
    ];
  }
  progress(
    `pssh: starting ${sshdArgv.join(" ")} on 127.0.0.1:${port}${hide ? ` (private mount namespace, ${bashrc} hidden)` : ""}`,
  );
  const sshd: ChildProcess = spawn(cmd[0], cmd.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  let sshdErr = "";
  sshd.stderr!.on("data", (c) => {
    sshdErr += c;
    if (sshdErr.length > 20_000) sshdErr = sshdErr.slice(-10_000);
  });
  const exited = new Promise<void>((r) => sshd.once("exit", () => r()));
  const deadline = Date.now() + 10_000;
  while (!(await sshBanner(port))) {
    if (sshd.exitCode !== null) throw new Error(`sshd exited (${sshd.exitCode}): ${sshdErr.trim()}`);
    if (Date.now() > deadline) throw new Error(`sshd did not answer on port ${port}: ${sshdErr.trim()}`);
    await sleep(50);
  }

  const sshOptions = [
    `-i ${clientKey}`,
    "-F /dev/null", // none of the machine's or the user's client config
    "-o StrictHostKeyChecking=no",
    "-o UserKnownHostsFile=/dev/null",
    "-o BatchMode=yes",
    "-o LogLevel=ERROR",
  ].join(" ");

  return {
    port,
    async run(n, argv, o = {}) {
      const parallelism = o.parallelism ?? n;
      const hosts = join(dir, `hosts-${n}`);
      writeFileSync(hosts, `${Array.from({ length: n }, () => `127.0.0.1:${port}`).join("\n")}\n`);
      const args = ["-p", String(parallelism), "-t", "0", "-h", hosts, "-l", "root", "-x", sshOptions, "-i"];
      const t0 = performance.now();
      const p = spawn(PSSH, [...args, ...argv], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      p.stdout!.on("data", (c) => {
        out += c;
      });
      p.stderr!.on("data", (c) => {
        err += c;
      });
      const exitCode = await new Promise<number | null>((r) => p.once("close", (code) => r(code)));
      const ms = performance.now() - t0;
      const lines = out.split("\n");
      const status = /^\[\d+\] \S+ \[(SUCCESS|FAILURE)\] (.*)$/;
      let succeeded = 0;
      let failed = 0;
      let outputLines = 0;
      const failures: string[] = [];
      for (const line of lines) {
        const m = status.exec(line);
        if (m?.[1] === "SUCCESS") succeeded++;
        else if (m?.[1] === "FAILURE") {
          failed++;
          if (failures.length < 5) failures.push(m[2]);
        } else if (o.expect ? o.expect.test(line) : line.trim() && !line.startsWith("Stderr:")) outputLines++;
      }
      if (err.trim() && failures.length < 5) failures.push(`stderr: ${err.trim().slice(0, 500)}`);
      return { ms, succeeded, failed, failures, outputLines, exitCode };
    },
    bashrcHidden: hide,
    async stop() {
      if (sshd.exitCode === null && sshd.signalCode === null) {
        sshd.kill("SIGTERM");
        const t = setTimeout(() => sshd.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }
      // The readiness probe connects and hangs up without a banner: sshd logs that once.
      sshdErr = sshdErr
        .split("\n")
        .filter((l) => !/kex_exchange_identification: Connection closed by remote host/.test(l))
        .join("\n");
      if (sshdErr.trim()) progress(`pssh: sshd said: ${sshdErr.trim().split("\n").slice(-5).join(" | ")}`);
    },
  };
}
