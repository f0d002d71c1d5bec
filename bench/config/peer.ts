/**
 * The peer of bench:config's file row: a plain HTTPS download of the same bytes, with no
 * broker, no database and no bookkeeping. Two kinds of child process:
 *  - `peer.ts server FILE TLS_JSON`: a node:https server on 127.0.0.1 (the Tether server's own
 *    certificate and key, TLS_JSON = {cert, key}) that answers every GET with FILE, streamed
 *    from disk (fs.createReadStream, as a plain file server would). Event {ev:"ready", port}.
 *  - `peer.ts clients URL CA_FILE DIR COUNT`: COUNT downloaders. On "go": all COUNT start at
 *    once, each over its own TLS connection (one per device, as each agent has its own),
 *    streaming the body to DIR/dl-K.tmp while hashing it (SHA-256), then fsync, close and rename
 *    to DIR/dl-K: what the agent does with a fetched configuration file. Event {ev:"done",
 *    ms: [per download, from "go"], bytes, hashes}. "quit" exits.
 * The parent side: startPeerServer(), startPeerClients(), peerRun().
 */
import { createHash } from "node:crypto";
import { createReadStream, mkdirSync, readFileSync, statSync } from "node:fs";
import { open, rename } from "node:fs/promises";
import https from "node:https";
import { join } from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { type Child, emit, onCommand, spawnChild } from "../lib/util.js";

const SELF = fileURLToPath(import.meta.url);

export async function startPeerServer(
  file: string,
  tlsJsonFile: string,
): Promise<{ child: Child; port: number }> {
  const child = spawnChild("peer-server", SELF, ["server", file, tlsJsonFile]);
  const ready = await child.wait((e) => e.ev === "ready", "peer server ready");
  return { child, port: ready.port };
}

export function startPeerClients(url: string, caFile: string, dir: string, counts: number[]): Child[] {
  return counts.map((n, k) =>
    spawnChild(`peer-clients-${k}`, SELF, ["clients", url, caFile, join(dir, `p${k}`), String(n)]),
  );
}

/** One run: "go" to every client process; wall ms until the last download is on disk, and every hash. */
export async function peerRun(
  clients: Child[],
): Promise<{ ms: number; perDownload: number[]; hashes: string[] }> {
  const t0 = performance.now();
  const waits = clients.map((c) => c.wait((e) => e.ev === "done", "peer downloads", 600_000));
  for (const c of clients) c.send("go");
  const done = await Promise.all(waits);
  const ms = performance.now() - t0;
  for (const d of done) if (d.error) throw new Error(`peer download failed: ${d.error}`);
  return { ms, perDownload: done.flatMap((d) => d.ms), hashes: done.flatMap((d) => d.hashes) };
}

async function serve(file: string, tlsJsonFile: string) {
  const { cert, key } = JSON.parse(readFileSync(tlsJsonFile, "utf8"));
  const server = https.createServer({ cert, key }, (req, res) => {
    const size = statSync(file).size;
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(size) });
    createReadStream(file).pipe(res);
  });
  server.listen(0, "127.0.0.1", () => {
    const a = server.address();
    emit({ ev: "ready", port: typeof a === "object" && a ? a.port : 0 });
  });
  onCommand((cmd) => {
    if (cmd === "quit") process.exit(0);
  });
}

function download(
  url: string,
  secureContext: tls.SecureContext,
  path: string,
  t0: number,
): Promise<{ ms: number; hash: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { agent: false, secureContext } as https.RequestOptions, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`HTTP ${res.statusCode}`));
        res.resume();
        return;
      }
      void (async () => {
        const fh = await open(`${path}.tmp`, "w");
        const h = createHash("sha256");
        try {
          for await (const chunk of res) {
            h.update(chunk);
            await fh.write(chunk);
          }
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(`${path}.tmp`, path);
        resolve({ ms: performance.now() - t0, hash: h.digest("hex") });
      })().catch(reject);
    });
    req.on("error", reject);
  });
}

async function clients(url: string, caFile: string, dir: string, count: number) {
  mkdirSync(dir, { recursive: true });
  // The CA pinned, as the agent pins the server's: no system roots to parse per connection.
  const secureContext = tls.createSecureContext({ ca: readFileSync(caFile, "utf8") });
  onCommand((cmd) => {
    if (cmd === "quit") process.exit(0);
    if (cmd !== "go") return;
    const t0 = performance.now();
    Promise.all(
      Array.from({ length: count }, (_, k) => download(url, secureContext, join(dir, `dl-${k}`), t0)),
    ).then(
      (r) => emit({ ev: "done", ms: r.map((x) => x.ms), hashes: r.map((x) => x.hash) }),
      (err) => emit({ ev: "done", ms: [], hashes: [], error: String(err?.message ?? err) }),
    );
  });
}

if (process.argv[1] === SELF) {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === "server") await serve(args[0], args[1]);
  else if (mode === "clients") await clients(args[0], args[1], args[2], Number(args[3]));
  else throw new Error(`peer.ts: unknown mode ${mode}`);
}
