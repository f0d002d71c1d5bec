/**
 * The CLI's HTTPS transport. With a pinned CA (TETHER_CA_CERT, `tether login --ca-cert`, the
 * local server's CA) it first trusts that CA alone: building a TLS context with the ~150
 * system roots as well costs tens of ms, a large part of a short command. Should the server's
 * certificate need a public root (a certificate of its own behind a proxy, say), the refused
 * handshake is retried once with the roots added, and that transport is kept. A handshake
 * refused for trust never sent the request, so the retry cannot run anything twice.
 */
import type { Transport } from "@tether/sdk";
import { nodeTransport } from "@tether/sdk/node";

/** Chain-verification failures that the system roots may resolve. */
const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_UNTRUSTED",
]);

const untrusted = (err: unknown) => UNTRUSTED.has((err as { code?: string })?.code ?? "");

export function cliTransport(caCert: string | undefined): Transport {
  if (!caCert) return nodeTransport();
  const pinned = nodeTransport(caCert, { systemRoots: false });
  let wide: Transport | undefined;
  const widen = () => {
    wide ??= nodeTransport(caCert);
    return wide;
  };
  const t: Transport = async (req) => {
    if (wide) return wide(req);
    try {
      return await pinned(req);
    } catch (err) {
      if (!untrusted(err)) throw err;
      return widen()(req);
    }
  };
  t.stream = async (req, onText, signal) => {
    if (wide) return wide.stream!(req, onText, signal);
    try {
      return await pinned.stream!(req, onText, signal);
    } catch (err) {
      if (!untrusted(err)) throw err;
      return widen().stream!(req, onText, signal);
    }
  };
  return t;
}
