// Shared by the CLI's tests: a fake Io that records what the CLI prints, and a real server in this
// process (SQLite, embedded broker) in a temp directory with the CLI run in-process (run() with a
// fake Io) against it.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type TetherServer } from "@tether/server";
import { run } from "../src/cli.js";
import type { Io } from "../src/io.js";

export interface FakeIo extends Io {
  /** Everything written, chunk by chunk in order: to which stream, and as written (text or bytes). */
  readonly chunks: { to: "stdout" | "stderr"; data: string | Uint8Array }[];
  /** What was written to `to` (default: both, interleaved as written), as text. */
  text(to?: "stdout" | "stderr"): string;
}

/** An Io with `env` and `home` that records the output, reads an empty stdin and is never stopped. */
export function fakeIo(env: Record<string, string | undefined>, home: string): FakeIo {
  const chunks: FakeIo["chunks"] = [];
  return {
    chunks,
    text: (to) =>
      chunks
        .filter((c) => !to || c.to === to)
        .map((c) => (typeof c.data === "string" ? c.data : Buffer.from(c.data).toString()))
        .join(""),
    stdout: (data) => {
      chunks.push({ to: "stdout", data });
    },
    stderr: (data) => {
      chunks.push({ to: "stderr", data });
    },
    readStdin: async () => Buffer.alloc(0),
    env,
    home,
    stopSignal: () => new AbortController().signal,
  };
}

export interface InProcessCli {
  /** The temp directory: the server's data in server/, the CLI's home in home/. */
  dir: string;
  srv: TetherServer;
  /** TETHER_URL, TETHER_TOKEN (the admin's API token) and TETHER_CA_CERT for the server. */
  env: Record<string, string>;
  /** Runs `tether args` with `env` (default: the admin's) and what it printed. */
  tether(
    args: string[],
    env?: Record<string, string>,
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Stops the server and removes the directory. */
  close(): Promise<void>;
}

export async function startInProcessCli(prefix: string): Promise<InProcessCli> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let srv: TetherServer | undefined;
  try {
    srv = await createServer({
      dataDir: join(dir, "server"),
      listen: { host: "127.0.0.1", port: 0 },
      mqttListen: { host: "127.0.0.1", port: 0 },
      logLevel: "warn",
    });
    await srv.listen();
  } catch (err) {
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const info = JSON.parse(readFileSync(join(dir, "server", "server.json"), "utf8"));
  const env = {
    TETHER_URL: info.url,
    TETHER_TOKEN: readFileSync(join(dir, "server", "admin.token"), "utf8").trim(),
    TETHER_CA_CERT: info.caCert,
  };
  const server = srv;
  return {
    dir,
    srv: server,
    env,
    async tether(args, e = env) {
      const io = fakeIo({ ...e, TETHER_HOME: join(dir, "nohome") }, join(dir, "home"));
      const code = await run(args, io);
      return { code, stdout: io.text("stdout"), stderr: io.text("stderr") };
    },
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
