/** HTTPS GET of the REST API for bench:telemetry: keep-alive, the server's CA, a bearer token. */
import https from "node:https";

export interface Api {
  get(path: string): Promise<{ status: number; body: any; ms: number }>;
  close(): void;
}

export function makeApi(url: string, ca: string, token?: string): Api {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 4, ca });
  return {
    get(path) {
      return new Promise((resolve, reject) => {
        const t0 = performance.now();
        const req = https.request(
          new URL(path, url),
          { method: "GET", agent, headers: token ? { authorization: `Bearer ${token}` } : {} },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("error", reject);
            res.on("end", () => {
              const ms = performance.now() - t0;
              const text = Buffer.concat(chunks).toString("utf8");
              let body: any = text;
              try {
                body = JSON.parse(text);
              } catch {}
              resolve({ status: res.statusCode ?? 0, body, ms });
            });
          },
        );
        req.on("error", reject);
        req.end();
      });
    },
    close: () => agent.destroy(),
  };
}
