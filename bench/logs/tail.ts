/**
 * The live-tail row of bench:logs: a server in its own process and one real `tether agent`
 * (the CLI bundled from source, as ../telemetry/footprint.ts runs it) enrolled with an
 * auto-accept token and following a file (`--follow-log`, `--no-journal`); an SSE client of
 * GET /api/v1/logs/stream?device=… (the admin token). After a warm-up line has come through,
 * `lines` lines are appended to the file `gapMs` apart, each with a probe word and its write
 * time; latency = the SSE event's arrival − the write (one clock). Anchor: GET /healthz round
 * trips, one after every 10th line.
 */
import { appendFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";
import { progress, ROOT, sleep, spawnChild, summarize } from "../lib/util.js";
import { agentCommand, spawnAgent, stopProc } from "../telemetry/footprint.js";
import { makeApi } from "../telemetry/http.js";

const DEVICE = "bench-tail";

export interface TailResult {
  latency: ReturnType<typeof summarize>;
  written: number;
  received: number;
  duplicates: number;
  health: ReturnType<typeof summarize>;
  agentBin: string;
}

/** An SSE client: calls `onEvent` per event (its name, id and data). */
function sse(
  url: string,
  ca: string,
  token: string,
  onEvent: (ev: { event: string; id?: string; data: string }) => void,
): { opened: Promise<void>; close(): void } {
  let req: ReturnType<typeof https.request>;
  const opened = new Promise<void>((resolve, reject) => {
    req = https.request(
      url,
      { ca, headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" } },
      (res) => {
        if (res.statusCode !== 200) {
          let t = "";
          res.on("data", (c) => {
            t += c;
          });
          res.on("end", () => reject(new Error(`log stream answered ${res.statusCode}: ${t.slice(0, 300)}`)));
          return;
        }
        resolve();
        res.setEncoding("utf8");
        let buf = "";
        res.on("data", (c: string) => {
          buf += c;
          for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev: { event: string; id?: string; data: string } = { event: "message", data: "" };
            for (const line of block.split("\n")) {
              if (line.startsWith(":")) continue;
              const k = line.indexOf(":");
              const field = k < 0 ? line : line.slice(0, k);
              const value = k < 0 ? "" : line.slice(k + 1).replace(/^ /, "");
              if (field === "event") ev.event = value;
              else if (field === "id") ev.id = value;
              else if (field === "data") ev.data += ev.data ? `\n${value}` : value;
            }
            if (ev.data || ev.event !== "message") onEvent(ev);
          }
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
  return { opened, close: () => req.destroy() };
}

export async function tailRun(tmpRoot: string, lines: number, gapMs: number): Promise<TailResult> {
  const cmd = await agentCommand();
  progress(`tail: starting a server (child) and one agent (${cmd.label}) following a file`);
  const server = spawnChild("tail-server", join(ROOT, "bench/telemetry/server-child.ts"), [
    JSON.stringify({ dataDir: join(tmpRoot, "tail-server"), devices: 0, enrollUses: 1 }),
  ]);
  const ready = await server.wait((e) => e.ev === "ready", "server ready");
  const file = join(tmpRoot, "tail-app.log");
  writeFileSync(file, "");
  const { proc: agent, stderr } = spawnAgent(cmd, {
    url: ready.url,
    token: ready.enrollToken,
    dataDir: join(tmpRoot, "tail-agent"),
    name: DEVICE,
    args: ["--follow-log", file, "--no-journal"],
  });
  // The benchmark interrupted (process.exit on a signal): the agent goes with it.
  const killAgent = () => agent.kill("SIGKILL");
  process.once("exit", killAgent);
  const api = makeApi(ready.url, ready.ca, ready.adminToken);
  let stream: ReturnType<typeof sse> | null = null;
  try {
    progress("tail: waiting for the agent's device to be enrolled");
    for (const deadline = Date.now() + 120_000; ; ) {
      if (agent.exitCode !== null) throw new Error(`the agent exited (${agent.exitCode}):\n${stderr()}`);
      const r = await api.get(`/api/v1/devices/${DEVICE}`);
      if (r.status === 200) break;
      if (Date.now() > deadline) throw new Error(`the agent did not enroll within 120 s\n${stderr()}`);
      await sleep(200);
    }
    const arrived = new Map<string, number>();
    let duplicates = 0;
    stream = sse(`${ready.url}/api/v1/logs/stream?device=${DEVICE}`, ready.ca, ready.adminToken, (ev) => {
      if (ev.event !== "line") return;
      const now = Date.now();
      const m = /\b(tp[a-z0-9]+x)\b/.exec(JSON.parse(ev.data).message ?? "");
      if (!m) return;
      if (arrived.has(m[1]!)) duplicates++;
      else arrived.set(m[1]!, now);
    });
    await stream.opened;

    // Warm-up: the agent follows the file and uploads (its first line may wait for its token).
    progress("tail: waiting for a warm-up line to come through the stream");
    for (let w = 0, deadline = Date.now() + 120_000; ; w++) {
      const probe = `tpw${w}x`;
      appendFileSync(file, `INFO [bench] warm-up probe ${probe}\n`);
      const until = Date.now() + 1000;
      while (!arrived.has(probe) && Date.now() < until) await sleep(20);
      if (arrived.has(probe)) break;
      if (agent.exitCode !== null) throw new Error(`the agent exited (${agent.exitCode}):\n${stderr()}`);
      if (Date.now() > deadline) throw new Error(`no line through the live tail within 120 s\n${stderr()}`);
    }

    progress(`tail: appending ${lines} lines ${gapMs} ms apart`);
    const written = new Map<string, number>();
    const health: number[] = [];
    for (let i = 0; i < lines; i++) {
      const probe = `tp${i.toString(36)}x`;
      const t = Date.now();
      appendFileSync(file, `INFO [bench] live tail probe ${probe} written ${t} queue ${i % 97} ok\n`);
      written.set(probe, t);
      if (i % 10 === 9) health.push((await api.get("/healthz")).ms);
      await sleep(gapMs);
    }
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      if ([...written.keys()].every((k) => arrived.has(k))) break;
      await sleep(50);
    }
    const latencies: number[] = [];
    for (const [k, t] of written) {
      const a = arrived.get(k);
      if (a !== undefined) latencies.push(a - t);
    }
    progress(`tail: ${latencies.length}/${written.size} lines received through the stream`);
    return {
      latency: summarize(latencies),
      written: written.size,
      received: latencies.length,
      duplicates,
      health: summarize(health),
      agentBin: cmd.label,
    };
  } finally {
    stream?.close();
    api.close();
    await stopProc(agent);
    process.off("exit", killAgent);
    await server.stop();
  }
}
