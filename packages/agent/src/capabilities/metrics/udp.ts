/**
 * A UDP listener on 127.0.0.1 only (application metrics are local: nothing off the device
 * may write into a robot's metrics). Datagrams over the cap are dropped and counted.
 */
import { createSocket, type Socket } from "node:dgram";
import type { Drops } from "./drops.js";

/** Bigger than any UDP payload over IPv4 loopback can be is pointless; smaller cuts real batches. */
export const MAX_DATAGRAM_BYTES = 65_507;

export interface UdpListener {
  readonly port: number;
  close(): Promise<void>;
}

export function listenUdp(
  port: number,
  drops: Drops,
  onText: (text: string) => void,
  onError: (err: Error) => void,
  maxBytes = MAX_DATAGRAM_BYTES,
): Promise<UdpListener> {
  return new Promise((resolve, reject) => {
    const sock: Socket = createSocket({ type: "udp4" });
    sock.once("error", reject);
    sock.on("message", (msg) => {
      if (msg.length > maxBytes) {
        drops.add("oversize");
        return;
      }
      try {
        onText(msg.toString("utf8"));
      } catch (err) {
        onError(err as Error);
      }
    });
    sock.bind(port, "127.0.0.1", () => {
      sock.off("error", reject);
      sock.on("error", onError);
      resolve({
        port: sock.address().port,
        close: () => new Promise<void>((r) => sock.close(() => r())),
      });
    });
  });
}

/** Allow a log line per key at most once per `ms` (warnings a flood could repeat). */
export function throttle(ms: number, now: () => number = Date.now): (key: string) => boolean {
  const last = new Map<string, number>();
  return (key) => {
    const t = now();
    const prev = last.get(key);
    if (prev !== undefined && t - prev < ms) return false;
    last.set(key, t);
    return true;
  };
}
