/**
 * The `tether` CLI as a subprocess against one test server (packages/cli/src/main.ts under
 * tsx): its own config home (never the user's `tether login`), the server's CA in a file,
 * stdout kept as bytes. `stopClis()` kills any still running (call it in `after`).
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, type ServerHandle, tempDir } from "../e2e/harness.js";

const CLI = join(ROOT, "packages/cli/src/main.ts");

/**
 * The CLI bundled from the current sources into a temp dir (tools/build-cli.mjs, as `npm run
 * build` makes packages/cli/dist/tether.cjs): the installed command's own start, in a fraction
 * of the time of tsx. Pass it as `new Cli(server, { entry })`.
 */
export function buildCliBundle(): string {
  const out = join(tempDir("cli-bundle-"), "tether.cjs");
  execFileSync(process.execPath, [join(ROOT, "tools/build-cli.mjs"), out], { cwd: ROOT, stdio: "inherit" });
  return out;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout as bytes (remote output passes through unchanged) */
  out: Buffer;
  stdout: string;
  stderr: string;
}

export interface RunOpts {
  /** Another API token instead of the admin's. */
  token?: string;
  /** Bytes for the CLI's stdin (else it reads /dev/null). */
  input?: Buffer | string;
  /** Extra environment, over the server's TETHER_URL/TETHER_TOKEN/TETHER_CA_CERT. */
  env?: Record<string, string>;
}

/** CLI processes still running (a failed test must not leave them behind). */
const running = new Set<ChildProcess>();

/** SIGKILL every CLI process a test left running. */
export function stopClis(): void {
  for (const p of running) p.kill("SIGKILL");
  running.clear();
}

/** The `tether` CLI, talking to one server. */
export class Cli {
  readonly caFile: string;
  private readonly configHome = tempDir("cli-config-");

  /** `entry`: a built CLI (buildCliBundle()) instead of src/main.ts under tsx. */
  constructor(
    private readonly server: ServerHandle,
    private readonly o: { entry?: string } = {},
  ) {
    this.caFile = join(tempDir("cli-ca-"), "ca.pem");
    writeFileSync(this.caFile, server.ca);
  }

  start(
    args: string[],
    o: RunOpts = {},
  ): {
    proc: ChildProcess;
    result: Promise<CliResult>;
    stdoutSoFar: () => string;
    stderrSoFar: () => string;
  } {
    const env: Record<string, string | undefined> = { ...process.env };
    for (const k of Object.keys(env))
      if (/^TETHER_(URL|TOKEN|CA_CERT|PROJECT|DATA|HOME)$/.test(k)) delete env[k];
    env.XDG_CONFIG_HOME = this.configHome; // never the user's own `tether login`
    env.TETHER_URL = this.server.info.url;
    env.TETHER_TOKEN = o.token ?? this.server.token;
    env.TETHER_CA_CERT = this.caFile;
    Object.assign(env, o.env);
    const argv = this.o.entry ? [this.o.entry] : ["--import", "tsx", "--conditions=source", CLI];
    const proc = spawn(process.execPath, [...argv, ...args], {
      cwd: ROOT,
      env,
      stdio: [o.input !== undefined ? "pipe" : "ignore", "pipe", "pipe"],
    });
    running.add(proc);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    proc.stdout!.on("data", (c: Buffer) => out.push(c));
    proc.stderr!.on("data", (c: Buffer) => err.push(c));
    if (o.input !== undefined) {
      proc.stdin!.on("error", () => {}); // the CLI may stop reading (too much input)
      proc.stdin!.end(o.input);
    }
    const cap = setTimeout(() => proc.kill("SIGKILL"), 120_000);
    const result = new Promise<CliResult>((resolve, reject) => {
      proc.on("error", reject);
      proc.on("close", (code, signal) => {
        clearTimeout(cap);
        running.delete(proc);
        const b = Buffer.concat(out);
        resolve({
          code,
          signal,
          out: b,
          stdout: b.toString("utf8"),
          stderr: Buffer.concat(err).toString("utf8"),
        });
      });
    });
    return {
      proc,
      result,
      stdoutSoFar: () => Buffer.concat(out).toString("utf8"),
      stderrSoFar: () => Buffer.concat(err).toString("utf8"),
    };
  }

  run(args: string[], o: RunOpts = {}): Promise<CliResult> {
    return this.start(args, o).result;
  }

  async json<T = any>(args: string[], o: RunOpts = {}): Promise<T> {
    const r = await this.run([...args, "--json"], o);
    expectExit(r, 0, args.join(" "));
    return JSON.parse(r.stdout) as T;
  }
}

export function expectExit(r: CliResult, code: number, what = ""): void {
  assert.equal(
    r.code,
    code,
    `${what ? `${what}: ` : ""}exit ${r.code ?? r.signal}, wanted ${code}\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr.slice(0, 2000)}`,
  );
}
