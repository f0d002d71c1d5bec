/**
 * One download over HTTPS with the device token (docs/protocol.md §18.4: configuration files
 * fetched by content hash): GET, trusting ONLY the server's CA from the identity, streamed to
 * a file and capped at a size. The token store is the telemetry layer's (current, then next).
 */
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import https from "node:https";
import { CONFIG_SEALED_HEADER } from "@tether/protocol";
import type { TokenStore } from "./token-store.js";

/** A download that failed: `status` is the HTTP status (0 for network errors), `code` the server's error code. */
export class DownloadError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = "DownloadError";
  }
}

export class BlobDownloader {
  private readonly agent: https.Agent;

  constructor(
    caCert: string,
    private readonly apiUrl: string,
    private readonly tokens: TokenStore,
    private readonly timeoutMs: number,
  ) {
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 4, ca: caCert });
  }

  async download(path: string, dest: string, maxBytes: number): Promise<{ sealed: boolean; bytes: number }> {
    const url = new URL(`${this.apiUrl.replace(/\/+$/, "")}${path.startsWith("/") ? path : `/${path}`}`);
    if (url.protocol !== "https:")
      throw new DownloadError(`refusing to send the device token to ${url.origin}`, 0);
    const cands = this.tokens.candidates();
    if (!cands.length)
      throw new DownloadError("no device token yet (it arrives over the control channel)", 401);
    let last: DownloadError | undefined;
    for (const c of cands) {
      try {
        const r = await this.get(url, c.token, dest, maxBytes);
        this.tokens.accepted(c.token);
        return r;
      } catch (err) {
        if (err instanceof DownloadError && err.status === 401) {
          this.tokens.refused(c.token);
          last = err;
          continue;
        }
        throw err;
      }
    }
    throw last ?? new DownloadError("device token refused", 401);
  }

  private get(
    url: URL,
    token: string,
    dest: string,
    maxBytes: number,
  ): Promise<{ sealed: boolean; bytes: number }> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        req.destroy();
        void rm(dest, { force: true }).finally(() => reject(err));
      };
      const req = https.request(
        url,
        {
          method: "GET",
          agent: this.agent,
          timeout: this.timeoutMs,
          headers: { authorization: `Bearer ${token}`, accept: "application/octet-stream" },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status !== 200) {
            const chunks: Buffer[] = [];
            let n = 0;
            res.on("data", (c: Buffer) => {
              if (n < 16_384) chunks.push(c);
              n += c.length;
            });
            res.on("error", (e) => fail(new DownloadError(e.message, 0)));
            res.on("end", () => {
              let code: string | undefined;
              let message = `HTTP ${status}`;
              try {
                const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
                  error?: { code?: string; message?: string };
                };
                code = body.error?.code;
                if (body.error?.message) message = `HTTP ${status}: ${body.error.message}`;
              } catch {}
              fail(new DownloadError(`${message}${code ? ` (${code})` : ""}`, status, code));
            });
            return;
          }
          const declared = Number(res.headers["content-length"] ?? Number.NaN);
          if (Number.isFinite(declared) && declared > maxBytes) {
            fail(
              new DownloadError(
                `the server sent ${declared} bytes, more than the expected ${maxBytes}`,
                status,
              ),
            );
            return;
          }
          const sealed = res.headers[CONFIG_SEALED_HEADER] === "1";
          const out = createWriteStream(dest, { mode: 0o600 });
          let bytes = 0;
          out.on("error", (e) => fail(e));
          res.on("error", (e) => fail(new DownloadError(e.message, 0)));
          res.on("data", (c: Buffer) => {
            bytes += c.length;
            if (bytes > maxBytes) {
              out.destroy();
              fail(
                new DownloadError(
                  `the download is larger than the expected ${maxBytes} bytes; refused`,
                  status,
                ),
              );
            }
          });
          res.pipe(out);
          out.on("finish", () => {
            if (settled) return;
            settled = true;
            resolve({ sealed, bytes });
          });
        },
      );
      req.on("timeout", () => fail(new DownloadError(`download from ${url.host} timed out`, 0)));
      req.on("error", (e) => fail(e instanceof DownloadError ? e : new DownloadError(e.message, 0)));
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
