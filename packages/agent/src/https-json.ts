/** Minimal HTTPS JSON client for enrollment (node:https, so the CA can be pinned per call). */
import https from "node:https";
import tls from "node:tls";

export interface HttpsOptions {
  /** PEM CA to trust in addition to the system's; when absent and insecure is set, no verification. */
  ca?: string;
  /** Only for fetching the signed server info, whose authenticity is checked by signature. */
  insecure?: boolean;
  timeoutMs?: number;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function requestJson<T>(method: string, url: string, body: unknown, o: HttpsOptions = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = https.request(
      u,
      {
        method,
        headers: {
          accept: "application/json",
          ...(data ? { "content-type": "application/json", "content-length": data.length } : {}),
        },
        ...(o.ca ? { ca: [...systemRoots(), o.ca] } : {}),
        rejectUnauthorized: !o.insecure,
        timeout: o.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: any;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            return reject(
              new HttpError(res.statusCode ?? 0, "BAD_RESPONSE", `server sent non-JSON (${res.statusCode})`),
            );
          }
          if ((res.statusCode ?? 500) >= 400) {
            return reject(
              new HttpError(
                res.statusCode!,
                json?.error?.code ?? "HTTP_ERROR",
                json?.error?.message ?? `HTTP ${res.statusCode}`,
              ),
            );
          }
          resolve(json as T);
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`request to ${u.host} timed out`)));
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

function systemRoots(): string[] {
  return [...tls.rootCertificates];
}
