/**
 * Helpers of the remote-configuration end-to-end tests (tests/e2e/config-*.test.ts): an
 * in-process server, real agents (runAgent, in this process) started with an apply hook, raw HTTPS for file
 * uploads and blob fetches, and reads of what an agent wrote under its data directory.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";
import { type AgentOptions, runAgent } from "@tether/agent";
import pino from "pino";
import { type Api, type ApiResponse, tempDir, waitFor } from "../e2e/harness.js";
import type { InProcessServer } from "./in-process-server.js";

/**
 * An apply hook script: appends `$TETHER_CONFIG_REVISION` to LOG (one line per run), copies the
 * changed-keys file to LOG.changed.REV; exits 3 when effective.json has `"mode": "broken"`,
 * hangs (sleep 30) when it has `"mode": "hang"`.
 */
export function hookScript(): { cmd: (log: string) => string } {
  const dir = tempDir("tether-config-hook-");
  const script = join(dir, "hook.sh");
  writeFileSync(
    script,
    [
      "#!/bin/sh",
      'log="$1"',
      'echo "$TETHER_CONFIG_REVISION" >> "$log"',
      'cp "$TETHER_CONFIG_CHANGED" "$log.changed.$TETHER_CONFIG_REVISION" 2>/dev/null',
      'if grep -q \'"mode": "broken"\' "$TETHER_CONFIG_DIR/effective.json"; then',
      '  echo "hook: nav.mode is broken, refusing revision $TETHER_CONFIG_REVISION" >&2',
      "  exit 3",
      "fi",
      'if grep -q \'"mode": "hang"\' "$TETHER_CONFIG_DIR/effective.json"; then',
      '  echo "hook: hanging"',
      "  exec sleep 30",
      "fi",
      "exit 0",
      "",
    ].join("\n"),
  );
  chmodSync(script, 0o755);
  return { cmd: (log: string) => `/bin/sh ${script} ${log}` };
}

/** `tether agent` config flags (--config-hook CMD). */
export type ConfigFlags = NonNullable<NonNullable<AgentOptions["config"]>["flags"]>;

/** `tether agent --config-hook CMD`: the agent's config flags. */
export function hookFlags(cmd: string): ConfigFlags {
  return { applyHook: cmd };
}

/** An agent running in this process (runAgent), its log kept in memory. */
export interface InProcessAgent {
  /** Every log line so far (pino JSON, debug and up). */
  logs: string[];
  /** Settles when runAgent returns (or throws). */
  done: Promise<void>;
  /** A clean stop (goodbye): resolves when runAgent has returned. */
  stop(): Promise<void>;
}

const liveAgents = new Set<InProcessAgent>();

/** Stop every in-process agent still running (a test file's `after`). */
export async function stopInProcessAgents(): Promise<void> {
  await Promise.all([...liveAgents].map((a) => a.stop()));
}

/**
 * Run an agent in this process, as `tether agent` would with these flags (no StatsD/Influx
 * listeners, no host journal, as agent-main.ts). Much cheaper than a process on a loaded
 * machine; used where nothing needs kill -9.
 */
export function startInProcessAgent(o: {
  dataDir: string;
  url?: string;
  token?: string;
  name?: string;
  config?: ConfigFlags;
}): InProcessAgent {
  const logs: string[] = [];
  const log = pino({ level: "debug" }, { write: (s: string) => void logs.push(s) });
  const ac = new AbortController();
  const done = runAgent({
    dataDir: o.dataDir,
    url: o.url,
    token: o.token,
    name: o.name,
    signal: ac.signal,
    log,
    metrics: { flags: { statsdPort: 0, influxPort: 0 } },
    logs: { flags: { journal: false, agentLog: false } },
    config: o.config ? { flags: o.config } : undefined,
  }).finally(() => liveAgents.delete(handle));
  const handle: InProcessAgent = {
    logs,
    done,
    stop: async () => {
      ac.abort();
      await done.catch(() => undefined);
    },
  };
  liveAgents.add(handle);
  return handle;
}

export interface ConfigAgent {
  name: string;
  id: string;
  dataDir: string;
  flags?: ConfigFlags;
  agent: InProcessAgent;
}

async function waitOnline(server: InProcessServer, a: InProcessAgent, name: string): Promise<any> {
  let failed: unknown;
  a.done.catch((err) => {
    failed = err;
  });
  return waitFor(async () => {
    if (failed) throw new Error(`agent ${name} stopped: ${(failed as Error).message}`);
    const r = await server.api.request("GET", `/api/v1/devices/${name}`);
    return r.status === 200 && r.body.online ? r.body : undefined;
  }, `${name} online`);
}

/** Enroll an auto-accepted in-process agent with labels (and config flags), wait until it is online. */
export async function enrollConfigAgent(
  server: InProcessServer,
  name: string,
  labels: Record<string, string>,
  flags?: ConfigFlags,
): Promise<ConfigAgent> {
  const { token } = await server.api.call<{ token: string }>("POST", "/api/v1/enrollment-tokens", {
    autoAccept: true,
    labels,
  });
  const dataDir = join(tempDir("tether-config-agent-"), "agent");
  const agent = startInProcessAgent({ dataDir, url: server.url, token, name, config: flags });
  const dev = await waitOnline(server, agent, name);
  return { name, id: dev.id, dataDir, flags, agent };
}

/** Start a stopped agent again (same data directory, same flags); wait until it is online. */
export async function restartConfigAgent(server: InProcessServer, a: ConfigAgent): Promise<void> {
  a.agent = startInProcessAgent({ dataDir: a.dataDir, config: a.flags });
  await waitOnline(server, a.agent, a.name);
}

/** A raw HTTPS request (binary body, any token) against the server. */
export function rawRequest(
  server: InProcessServer,
  method: string,
  path: string,
  o: { token?: string; body?: Buffer; contentType?: string } = {},
): Promise<ApiResponse & { raw: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(path, server.url),
      {
        method,
        ca: server.ca,
        headers: {
          ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
          ...(o.body
            ? {
                "content-type": o.contentType ?? "application/octet-stream",
                "content-length": String(o.body.length),
              }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const raw = Buffer.concat(chunks);
          let body: any = raw.toString("utf8");
          try {
            body = body ? JSON.parse(body) : undefined;
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, raw });
        });
      },
    );
    req.on("error", (err: NodeJS.ErrnoException) => {
      // The server may answer (413) and close before the whole body is sent.
      if (err.code === "EPIPE" || err.code === "ECONNRESET") return;
      reject(err);
    });
    if (o.body) req.end(o.body);
    else req.end();
  });
}

/** PUT a file into a layer (the admin's token). */
export function putFile(
  server: InProcessServer,
  token: string,
  layer: string,
  path: string,
  content: Buffer | string,
  query: Record<string, string | number> = {},
): Promise<ApiResponse & { raw: Buffer }> {
  const q = new URLSearchParams({
    path,
    ...Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)])),
  });
  return rawRequest(server, "PUT", `/api/v1/config/layers/${encodeURIComponent(layer)}/files?${q}`, {
    token,
    body: Buffer.isBuffer(content) ? content : Buffer.from(content),
  });
}

/** PATCH a layer; throws unless 2xx; answers the ConfigChange. */
export async function patchLayer(api: Api, layer: string, patch: Record<string, unknown>): Promise<any> {
  return api.call("PATCH", `/api/v1/config/layers/${encodeURIComponent(layer)}`, patch);
}

/** What the agent wrote: config/effective.json (parsed), or undefined when absent. */
export function effectiveOf(a: ConfigAgent): any {
  const p = join(a.dataDir, "config", "effective.json");
  return existsSync(p) ? JSON.parse(readFileSync(p, "utf8")) : undefined;
}

/** A managed file the agent wrote (config/files/PATH), or undefined. */
export function managedFile(a: ConfigAgent, path: string): string | undefined {
  const p = join(a.dataDir, "config", "files", path);
  return existsSync(p) ? readFileSync(p, "utf8") : undefined;
}

/** The revisions the hook ran for (one line each), in order. */
export function hookRuns(log: string): number[] {
  return existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean).map(Number) : [];
}

/** GET /api/v1/config/devices/:device. */
export function deviceView(api: Api, device: string): Promise<any> {
  return api.call("GET", `/api/v1/config/devices/${encodeURIComponent(device)}`);
}

/** Wait until the device reports `rev` applied (status in-sync, reported = desired = rev). */
export async function waitInSync(api: Api, device: string, rev: number, timeoutMs = 20_000): Promise<any> {
  let last: any;
  try {
    return await waitFor(
      async () => {
        last = await deviceView(api, device);
        return last.status === "in-sync" && last.reported === rev && last.desired === rev ? last : undefined;
      },
      `${device} in-sync at revision ${rev}`,
      timeoutMs,
    );
  } catch (err) {
    const { status, desired, reported, error, hookOutput, drift, heldBy } = last ?? {};
    throw new Error(
      `${(err as Error).message}; last: ${JSON.stringify({ status, desired, reported, error, hookOutput, drift, heldBy })}`,
    );
  }
}

/** The device's telemetry token (the one it fetches blobs with), from its data directory. */
export function deviceToken(a: ConfigAgent): string {
  const t = JSON.parse(readFileSync(join(a.dataDir, "telemetry.json"), "utf8"));
  const tok = t.next ?? t.current;
  if (!tok) throw new Error(`${a.name} has no telemetry token yet`);
  return tok;
}

/** The agent's log lines (pino JSON) with this message. */
export function agentLogLines(a: ConfigAgent, msg: string): any[] {
  const out: any[] = [];
  for (const line of a.agent.logs) {
    if (!line.includes(msg)) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      /* not JSON */
    }
  }
  return out;
}
