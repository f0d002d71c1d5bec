/**
 * The alert row of bench:logs: a server in its own process with one simulated device (telemetry
 * token), a webhook pointing at a local node:http receiver, and one metric rule per
 * for-duration F (`bench_level_f<F> > 50 for F`). A round posts a metrics batch whose sample
 * crosses the threshold (server receipt ≤ the moment the request is sent + its upload time),
 * waits for the webhook request announcing the rule firing, then posts a value under the
 * threshold and waits for the resolved request, then a random 0–1 s (rounds in lockstep with
 * the server's evaluation timer would all see the same phase of it). Latency = firing request's arrival − the
 * crossing upload's send − F (so it includes the upload's own round trip; conservative).
 * Anchor: the crossing upload's own round trip (send → answer).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { progress, ROOT, sleep, spawnChild, summarize } from "../lib/util.js";
import { makeApi } from "../telemetry/http.js";

export interface AlertResult {
  byFor: {
    forMs: number;
    latency: ReturnType<typeof summarize>;
    upload: ReturnType<typeof summarize>;
    resolve: ReturnType<typeof summarize>;
  }[];
  all: ReturnType<typeof summarize>;
  upload: ReturnType<typeof summarize>;
  requests: number;
}

interface Hit {
  at: number;
  status: string;
  rule: string;
}

export async function alertRun(tmpRoot: string, forMsList: number[], rounds: number): Promise<AlertResult> {
  const hits: Hit[] = [];
  const waiters = new Set<() => void>();
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const at = Date.now();
      res.writeHead(200).end("ok");
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        hits.push({
          at,
          status: body.status,
          rule: body.groupLabels?.alertname ?? body.commonLabels?.alertname,
        });
      } catch {
        hits.push({ at, status: "unparsable", rule: "" });
      }
      for (const w of [...waiters]) w();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const port = (receiver.address() as AddressInfo).port;
  const tokensFile = join(tmpRoot, "alert-tokens.json");
  const server = spawnChild("alert-server", join(ROOT, "bench/telemetry/server-child.ts"), [
    JSON.stringify({ dataDir: join(tmpRoot, "alert-server"), devices: 1, tokensFile }),
  ]);
  try {
    const ready = await server.wait((e) => e.ev === "ready", "server ready", 120_000);
    const dev = (JSON.parse(readFileSync(tokensFile, "utf8")) as { id: string; token: string }[])[0]!;
    const api = makeApi(ready.url, ready.ca, ready.adminToken);
    const must = async (method: string, path: string, body?: unknown, token?: string) => {
      const r = await api.send(method, path, body, token);
      if (r.status >= 300)
        throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      return r;
    };
    let seq = 0;
    const upload = (metric: string, value: number) =>
      must(
        "POST",
        "/api/v1/telemetry/batches",
        {
          v: 1,
          device: dev.id,
          stream: "metrics",
          seq: ++seq,
          sentAt: Date.now(),
          metrics: [{ name: metric, kind: "gauge", points: [[Date.now(), value]] }],
        },
        dev.token,
      );
    const waitHit = (pred: (h: Hit) => boolean, from: number, what: string, timeoutMs = 30_000) =>
      new Promise<Hit>((resolve, reject) => {
        const check = () => {
          const h = hits.slice(from).find(pred);
          if (!h) return;
          waiters.delete(check);
          clearTimeout(t);
          resolve(h);
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no webhook request (${what}) within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });

    await must("POST", "/api/v1/webhooks", { name: "bench", url: `http://127.0.0.1:${port}/hook` });
    for (const f of forMsList) {
      await upload(`bench_level_f${f}`, 10); // the series exists before the rule names it
      await must("POST", "/api/v1/alerts/rules", {
        name: `bench-f${f}`,
        metric: `bench_level_f${f}`,
        op: ">",
        value: 50,
        forMs: f,
        webhooks: ["bench"],
      });
    }
    const byFor: AlertResult["byFor"] = [];
    const all: number[] = [];
    const uploads: number[] = [];
    for (const f of forMsList) {
      const rule = `bench-f${f}`;
      progress(`alert: ${rounds} rounds of rule ${rule} (for ${f} ms): cross, webhook firing, resolve`);
      const lat: number[] = [];
      const up: number[] = [];
      const res: number[] = [];
      for (let i = 0; i < rounds; i++) {
        let from = hits.length;
        const sentAt = Date.now();
        const r = await upload(`bench_level_f${f}`, 90);
        up.push(r.ms);
        const fired = await waitHit((h) => h.rule === rule && h.status === "firing", from, `${rule} firing`);
        lat.push(fired.at - sentAt - f);
        from = hits.length;
        const t = Date.now();
        await upload(`bench_level_f${f}`, 10);
        const resolved = await waitHit(
          (h) => h.rule === rule && h.status === "resolved",
          from,
          `${rule} resolved`,
        );
        res.push(resolved.at - t);
        // A random phase against the server's evaluation timer, so rounds sample all of it.
        await sleep(Math.random() * 1000);
      }
      const s = summarize(lat);
      progress(`alert: for ${f} ms: latency beyond it p50 ${s.p50} ms, p99 ${s.p99} ms`);
      byFor.push({ forMs: f, latency: s, upload: summarize(up), resolve: summarize(res) });
      all.push(...lat);
      uploads.push(...up);
    }
    api.close();
    return { byFor, all: summarize(all), upload: summarize(uploads), requests: hits.length };
  } finally {
    await server.stop();
    receiver.closeAllConnections();
    await new Promise((r) => receiver.close(r));
  }
}
