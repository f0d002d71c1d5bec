/**
 * A private Mosquitto (2.0, dynamic-security plugin) for tests: its own temp directory,
 * config and dynsec file, a free loopback port, plain MQTT (loopback only).
 *
 * If /usr/sbin/mosquitto is missing, `mosquittoSkipReason()` returns a one-line reason
 * outside CI and throws in CI (process.env.CI), so a CI image without Mosquitto fails loudly
 * instead of silently skipping the external-broker tests.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./net.js";

export const MOSQUITTO = process.env.TETHER_TEST_MOSQUITTO ?? "/usr/sbin/mosquitto";
export const MOSQUITTO_CTRL = process.env.TETHER_TEST_MOSQUITTO_CTRL ?? "/usr/bin/mosquitto_ctrl";
export const DYNSEC_PLUGIN =
  process.env.TETHER_TEST_DYNSEC_PLUGIN ?? "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so";

/** undefined when Mosquitto can run here; a reason to skip otherwise (throws in CI). */
export function mosquittoSkipReason(): string | undefined {
  const missing = [MOSQUITTO, MOSQUITTO_CTRL, DYNSEC_PLUGIN].filter((p) => !existsSync(p));
  if (missing.length === 0) return undefined;
  const msg = `Mosquitto with the dynamic-security plugin is not installed (missing ${missing.join(", ")})`;
  if (process.env.CI)
    throw new Error(`${msg}; CI must have it (apt-get install mosquitto mosquitto-clients)`);
  process.stderr.write(`skipping external-broker tests: ${msg}\n`);
  return msg;
}

export interface MosquittoHandle {
  /** mqtt://127.0.0.1:PORT */
  url: string;
  port: number;
  dir: string;
  /** JSON file {"username","password"} of the dynsec admin. */
  adminFile: string;
  admin: { username: string; password: string };
  /** Everything Mosquitto logged so far (all starts). */
  log(): string;
  /** Stop and start again on the same port, same dynsec file (clients and roles survive). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function waitForPort(port: number, proc: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(
        `mosquitto exited (${proc.exitCode ?? proc.signalCode}) at start:\n${output().slice(-3000)}`,
      );
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`mosquitto did not listen on ${port}:\n${output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function startMosquitto(
  o: { port?: number; extraConfig?: string[] } = {},
): Promise<MosquittoHandle> {
  const dir = mkdtempSync(join(tmpdir(), "tether-mosquitto-"));
  const port = o.port ?? (await freePort());
  const admin = { username: "admin", password: randomBytes(18).toString("base64url") };
  const dynsecFile = join(dir, "dynamic-security.json");
  execFileSync(MOSQUITTO_CTRL, ["dynsec", "init", dynsecFile, admin.username, admin.password], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const adminFile = join(dir, "admin.json");
  writeFileSync(adminFile, `${JSON.stringify(admin)}\n`, { mode: 0o600 });
  const conf = [
    `listener ${port} 127.0.0.1`,
    "allow_anonymous false",
    "retain_available false",
    "persistence false",
    "set_tcp_nodelay true",
    `plugin ${DYNSEC_PLUGIN}`,
    `plugin_opt_config_file ${dynsecFile}`,
    "log_dest stderr",
    "log_type error",
    "log_type warning",
    "log_type notice",
    "log_type information",
    "connection_messages true",
    "log_timestamp_format %H:%M:%S",
    // Run as the current user: as root Mosquitto would drop to "mosquitto", which cannot
    // write the dynsec file in our 0700 temp directory.
    ...(process.getuid?.() === 0 ? ["user root"] : []),
    ...(o.extraConfig ?? []),
  ];
  const confFile = join(dir, "mosquitto.conf");
  writeFileSync(confFile, `${conf.join("\n")}\n`);

  let out = "";
  let proc: ChildProcess;
  const start = async () => {
    proc = spawn(MOSQUITTO, ["-c", confFile], { stdio: ["ignore", "pipe", "pipe"] });
    const p = proc;
    // A test process that exits without stopping us (timeout, force-exit) takes Mosquitto along.
    const reap = () => p.kill("SIGKILL");
    process.once("exit", reap);
    p.once("exit", () => process.off("exit", reap));
    const add = (c: Buffer) => {
      out += c;
      if (out.length > 2_000_000) out = out.slice(-1_000_000);
    };
    proc.stdout!.on("data", add);
    proc.stderr!.on("data", add);
    await waitForPort(port, proc, () => out);
  };
  const stopProc = async () => {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, "exit");
    proc.kill("SIGTERM");
    const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(t);
  };
  await start();
  let stopped = false;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    dir,
    adminFile,
    admin,
    log: () => out,
    async restart() {
      await stopProc();
      await start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopProc();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
