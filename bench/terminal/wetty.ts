/**
 * The peer web terminal: WeTTY (npm `wetty`, installed outside the repository, by default in
 * /opt/wetty: `npm install --prefix /opt/wetty wetty@3.2.0`; BENCH_WETTY_DIR elsewhere). Its
 * server runs in its own process, as root with --command, so it spawns the shell itself in a
 * node-pty PTY (no login, no ssh hop: the path most like Tether's). The client is the
 * socket.io-client WeTTY itself depends on (same major as its server), in the browser's role:
 * `input` events in, `data` events out, and `commit` every 256 KiB consumed as WeTTY's own
 * page does (its flow control: the server pauses the PTY past 2 MiB not committed). The
 * WebSocket transport from the start (the page begins with long-polling and upgrades; the
 * steady state measured is the same). Over TLS like Tether's user leg (--ssl-key/--ssl-cert: a
 * certificate made as Tether's server makes its own, ECDSA P-256, the client pinning its CA), so
 * both web terminals pay for encrypting the browser's connection.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import { join } from "node:path";
import { loadOrCreateTls } from "../../packages/server/src/security/tls.js";
import { progress, sleep } from "../lib/util.js";
import { PROMPT, Sink, type Term } from "./term.js";

export const WETTY_DIR = process.env.BENCH_WETTY_DIR ?? "/opt/wetty";
const MAIN = join(WETTY_DIR, "node_modules/wetty/build/main.js");
/** WeTTY's page commits this many bytes at a time (FlowControlClient.ackBytes). */
const ACK_BYTES = 262_144;

export const WETTY_MISSING = `WeTTY is missing: run \`npm install --prefix ${WETTY_DIR} wetty@3.2.0\` (outside the repository; it brings socket.io-client), or set BENCH_WETTY_DIR`;

export interface WettyPath {
  port: number;
  version: string;
  pid: number;
  open(): Promise<Term>;
  stop(): Promise<void>;
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

export async function startWetty(dir: string): Promise<WettyPath> {
  if (!existsSync(MAIN)) throw new Error(WETTY_MISSING);
  mkdirSync(dir, { recursive: true });
  const tls = await loadOrCreateTls(dir, ["127.0.0.1"]);
  const keyFile = join(dir, "wetty-key.pem");
  const certFile = join(dir, "wetty-cert.pem");
  writeFileSync(keyFile, tls.key, { mode: 0o600 });
  writeFileSync(certFile, tls.cert);
  const req = createRequire(join(WETTY_DIR, "node_modules/"));
  // Read, not required: the package's exports do not include its package.json.
  const version: string = JSON.parse(
    readFileSync(join(WETTY_DIR, "node_modules/wetty/package.json"), "utf8"),
  ).version;
  // Untyped here: the package lives outside the repository.
  const { io } = req("socket.io-client") as { io: (url: string, o: object) => any };
  const port = await freePort();
  // PS1 through the environment: WeTTY runs `/usr/bin/env -S <command>` in the PTY.
  const proc: ChildProcess = spawn(
    process.execPath,
    [
      MAIN,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--ssl-key",
      keyFile,
      "--ssl-cert",
      certFile,
      "--command",
      "bash --norc --noprofile",
      "--log-level",
      "warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, PS1: PROMPT }, cwd: WETTY_DIR },
  );
  let err = "";
  proc.stderr!.on("data", (c) => {
    if (err.length < 10_000) err += c;
  });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  // The benchmark interrupted or crashed: WeTTY goes with it.
  const kill = () => proc.kill("SIGKILL");
  process.once("exit", kill);
  for (const deadline = Date.now() + 20_000; ; ) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect({ host: "127.0.0.1", port }, () => {
        s.destroy();
        r(true);
      });
      s.on("error", () => r(false));
    });
    if (ok) break;
    if (proc.exitCode !== null) throw new Error(`WeTTY exited (${proc.exitCode}): ${err.trim()}`);
    if (Date.now() > deadline) throw new Error(`WeTTY did not listen on ${port} within 20 s: ${err.trim()}`);
    await sleep(100);
  }
  progress(`wetty: WeTTY ${version} listening on https://127.0.0.1:${port} (pid ${proc.pid})`);

  const open = (): Promise<Term> =>
    new Promise((resolve, reject) => {
      const s = io(`https://127.0.0.1:${port}`, {
        ca: tls.ca,
        path: "/socket.io",
        transports: ["websocket"],
        reconnection: false,
        forceNew: true,
      });
      const sink = new Sink();
      let unacked = 0;
      let ended: string | null = null;
      let closing = false;
      s.on("disconnect", (reason: string) => {
        if (!closing) ended = `WeTTY disconnected it (socket.io: ${reason})`;
      });
      s.on("data", (d: string) => {
        sink.push(Buffer.from(d, "utf8"));
        unacked += d.length;
        while (unacked >= ACK_BYTES) {
          unacked -= ACK_BYTES;
          s.emit("commit", ACK_BYTES);
        }
      });
      const t = setTimeout(() => reject(new Error(`WeTTY: no login within 20 s: ${err.trim()}`)), 20_000);
      s.on("connect_error", (e: Error) => {
        clearTimeout(t);
        reject(new Error(`WeTTY: ${e.message}`));
      });
      s.on("login", () => {
        clearTimeout(t);
        const raw = () => (s.io.engine as any)?.transport?.ws?._socket as net.Socket | undefined;
        resolve({
          label: "wetty",
          write: (d) => s.emit("input", d),
          onData: (fn) => sink.set(fn),
          pause: () => raw()?.pause(),
          resume: () => raw()?.resume(),
          ended: () => ended,
          async close() {
            closing = true;
            s.disconnect();
          },
        });
      });
    });

  return {
    port,
    version,
    pid: proc.pid!,
    open,
    async stop() {
      process.off("exit", kill);
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}
