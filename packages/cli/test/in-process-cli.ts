// Shared by the CLI's tests: a real server in this process (SQLite, embedded broker) in a temp
// directory, and the CLI run in-process (run() with a fake Io) against it.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type TetherServer } from "@tether/server";
import { run } from "../src/cli.js";
import type { Io } from "../src/io.js";

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
      let stdout = "";
      let stderr = "";
      const io: Io = {
        stdout: (s) => {
          stdout += s;
        },
        stderr: (s) => {
          stderr += s;
        },
        env: { ...e, TETHER_HOME: join(dir, "nohome") },
        home: join(dir, "home"),
        stopSignal: () => new AbortController().signal,
        readStdin: async () => Buffer.alloc(0),
      };
      const code = await run(args, io);
      return { code, stdout, stderr };
    },
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
