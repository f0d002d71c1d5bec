/**
 * One telemetry upload (docs/protocol.md §14.2): POST of a gzip-compressed batch over
 * node:https, trusting ONLY the server's CA from the identity (no system roots: the token
 * must never reach anyone else), on a keep-alive agent. Resolves with the status and the
 * error code of the answer; rejects on network errors, timeouts and aborts.
 */
import https from "node:https";

export interface PostResult {
  status: number;
  /** `error.code` of an error answer (docs/architecture.md §4), when the body says one. */
  code?: string;
  body?: unknown;
}

/** Answers are small; anything longer is cut (an odd proxy page, say). */
const MAX_ANSWER_BYTES = 64 * 1024;

export class BatchPoster {
  private readonly agent: https.Agent;

  constructor(
    caCert: string,
    private readonly timeoutMs: number,
  ) {
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 4, ca: caCert });
  }

  post(url: string, token: string, gz: Buffer, signal: AbortSignal): Promise<PostResult> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        new URL(url),
        {
          method: "POST",
          agent: this.agent,
          signal,
          timeout: this.timeoutMs,
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": "application/json",
            "content-encoding": "gzip",
            "content-length": gz.length,
            accept: "application/json",
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            if (size < MAX_ANSWER_BYTES) chunks.push(c);
            size += c.length;
          });
          res.on("error", reject);
          res.on("end", () => {
            const status = res.statusCode ?? 0;
            let body: unknown;
            try {
              const text = Buffer.concat(chunks).toString("utf8");
              body = text ? JSON.parse(text) : undefined;
            } catch {
              body = undefined;
            }
            const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
            resolve({ status, body, ...(typeof code === "string" ? { code } : {}) });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`telemetry upload to ${req.host} timed out`)));
      req.on("error", reject);
      req.end(gz);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
