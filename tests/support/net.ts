/** Small socket helpers for tests. */
import { once } from "node:events";
import type { IncomingMessage } from "node:http";
import net from "node:net";

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Resolves on 'close' (events.once would reject on an 'error' that precedes it, e.g. ECONNRESET). */
export function closeOf(e: { once(ev: "close", fn: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => e.once("close", () => resolve()));
}

/** An HTTP response read to the end: its status, headers, and body (parsed if JSON, else text). */
export function readResponse(
  res: IncomingMessage,
): Promise<{ status: number; body: any; headers: IncomingMessage["headers"] }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (c) => chunks.push(c));
    res.on("error", reject);
    res.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let parsed: any = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON */
      }
      resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
    });
  });
}
