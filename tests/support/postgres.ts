/**
 * A private PostgreSQL cluster for restart tests (never the machine's shared service):
 * initdb under a temporary directory, run as the `postgres` user (initdb refuses root),
 * on a free loopback port with trust authentication.
 */
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function binDir(): string | null {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return null;
  const v = readdirSync(base).sort().pop();
  return v ? join(base, v, "bin") : null;
}

export const PG_BIN = binDir();

export interface PrivatePostgres {
  url: string;
  port: number;
  restart(): void;
  stop(): void;
  start(): void;
  destroy(): void;
}

function asPostgres(cmd: string, args: string[]): string {
  const bin = join(PG_BIN!, cmd);
  if (process.getuid?.() === 0) {
    return execFileSync("runuser", ["-u", "postgres", "--", bin, ...args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  }
  return execFileSync(bin, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export function startPrivatePostgres(port: number): PrivatePostgres {
  if (!PG_BIN) throw new Error("PostgreSQL server binaries not found under /usr/lib/postgresql");
  const dir = mkdtempSync(join(tmpdir(), "tether-pg-"));
  const data = join(dir, "data");
  if (process.getuid?.() === 0) {
    const pw = execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim();
    const gr = execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim();
    chownSync(dir, Number(pw), Number(gr));
  }
  asPostgres("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const start = () => asPostgres("pg_ctl", ["-D", data, "-o", opts, "-w", "-l", join(dir, "log"), "start"]);
  const stop = () => asPostgres("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    restart() {
      stop();
      start();
    },
    destroy() {
      try {
        stop();
      } catch {
        /* already stopped */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
