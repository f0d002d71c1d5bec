/**
 * The HTTP transport the client speaks through. The default one uses `fetch` (browser and
 * Node); `nodeTransport(caCert)` in ./node.ts pins a private CA with node:https. Keeping
 * the node one in its own module keeps node:https out of browser bundles.
 */

export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** JSON text, or bytes (a file upload, application/octet-stream). */
  body?: string | Uint8Array;
  /**
   * Abort the request (the client's `signal`). A transport that honours it stops the I/O; the
   * client rejects at the abort either way. A transport must remove any listener it adds to it
   * when the request ends: one signal is shared by many requests.
   */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** Set-Cookie values (empty in browsers, which hide them). */
  setCookies: string[];
  body: string;
}

/**
 * A long response read as it arrives (Server-Sent Events). Text goes to `onText`; resolves
 * when the response ends or `signal` aborts, with the status and (for errors) the body.
 */
export type StreamFn = (
  req: HttpRequest,
  onText: (text: string) => void,
  signal: AbortSignal,
) => Promise<{ status: number; body: string }>;

/** Rejects only for network trouble (DNS, refused, TLS, timeout); HTTP errors resolve. */
export type Transport = ((req: HttpRequest) => Promise<HttpResponse>) & { stream?: StreamFn };

export type FetchLike = (input: string, init: any) => Promise<any>;

export function fetchTransport(fetchImpl?: FetchLike, o: { timeoutMs?: number } = {}): Transport {
  const t: Transport = async (req) => {
    const f: FetchLike | undefined = fetchImpl ?? (globalThis as any).fetch?.bind(globalThis);
    if (!f) throw new Error("no fetch implementation available");
    const ctl = typeof AbortController !== "undefined" ? new AbortController() : undefined;
    const timer = o.timeoutMs && ctl ? setTimeout(() => ctl.abort(), o.timeoutMs) : undefined;
    // The caller's signal reaches fetch through this request's own controller, linked for this
    // request only (fetch would otherwise add a listener of its own to a long-lived signal).
    const outer = req.signal;
    const onAbort = () => ctl?.abort(outer?.reason);
    if (outer?.aborted) onAbort();
    else outer?.addEventListener("abort", onAbort, { once: true });
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
      outer?.removeEventListener("abort", onAbort);
    }
  };
  t.stream = async (req, onText, signal) => {
    const f: FetchLike | undefined = fetchImpl ?? (globalThis as any).fetch?.bind(globalThis);
    if (!f) throw new Error("no fetch implementation available");
    try {
      const res = await f(req.url, {
        method: req.method,
        headers: req.headers,
        credentials: "same-origin",
        signal,
      });
      if (res.status >= 400 || !res.body) return { status: res.status, body: await res.text() };
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        onText(dec.decode(value, { stream: true }));
      }
      return { status: res.status, body: "" };
    } catch (err: any) {
      if (signal.aborted) return { status: 200, body: "" };
      throw err;
    }
  };
  return t;
}
