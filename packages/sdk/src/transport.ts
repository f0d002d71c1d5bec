/**
 * The HTTP transport the client speaks through. The default one uses `fetch` (browser and
 * Node); `nodeTransport(caCert)` in ./node.ts pins a private CA with node:https. Keeping
 * the node one in its own module keeps node:https out of browser bundles.
 */

export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface HttpResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** Set-Cookie values (empty in browsers, which hide them). */
  setCookies: string[];
  body: string;
}

/** Rejects only for network trouble (DNS, refused, TLS, timeout); HTTP errors resolve. */
export type Transport = (req: HttpRequest) => Promise<HttpResponse>;

export type FetchLike = (input: string, init: any) => Promise<any>;

export function fetchTransport(fetchImpl?: FetchLike, o: { timeoutMs?: number } = {}): Transport {
  return async (req) => {
    const f: FetchLike | undefined = fetchImpl ?? (globalThis as any).fetch?.bind(globalThis);
    if (!f) throw new Error("no fetch implementation available");
    const ctl = typeof AbortController !== "undefined" ? new AbortController() : undefined;
    const timer = o.timeoutMs && ctl ? setTimeout(() => ctl.abort(), o.timeoutMs) : undefined;
    try {
      const res = await f(req.url, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        credentials: "same-origin",
        signal: ctl?.signal,
      });
      const headers: Record<string, string> = {};
      res.headers?.forEach?.((v: string, k: string) => {
        headers[k.toLowerCase()] = v;
      });
      const setCookies: string[] =
        typeof res.headers?.getSetCookie === "function" ? res.headers.getSetCookie() : [];
      return { status: res.status, headers, setCookies, body: await res.text() };
    } finally {
      if (timer) clearTimeout(timer);
    }
  };
}
