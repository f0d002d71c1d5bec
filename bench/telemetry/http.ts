/** HTTPS requests to the REST API for bench:telemetry and bench:logs: keep-alive, the server's CA, a bearer token. */
import https from "node:https";

export interface Api {
  get(path: string): Promise<{ status: number; body: any; ms: number }>;
  /** A JSON body; `token` instead of the api's own (a device's telemetry token). */
  send(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
  ): Promise<{ status: number; body: any; ms: number }>;
  close(): void;
}

export function makeApi(url: string, ca: string, token?: string): Api {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 4, ca });
  const api: Api = {
    get: (path) => api.send("GET", path),
    send(method, path, json, as = token) {
      return new Promise((resolve, reject) => {
        const t0 = performance.now();
        const data = json === undefined ? undefined : JSON.stringify(json);
        const headers: Record<string, string> = as ? { authorization: `Bearer ${as}` } : {};
        if (data !== undefined) headers["content-type"] = "application/json";
        const req = https.request(new URL(path, url), { method, agent, headers }, (res) => {
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
        });
        req.on("error", reject);
        req.end(data);
      });
    },
    close: () => agent.destroy(),
  };
  return api;
}
