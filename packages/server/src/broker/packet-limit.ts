/**
 * MQTT packet sizes checked by their announced length, before the parser buffers a byte of
 * the body (docs/protocol.md §3 "What the broker refuses"). The parser (mqtt-packet) keeps
 * a packet's bytes until it is complete, so a fixed header announcing 200 MB would be held
 * whole; this reads each fixed header's remaining length as the bytes go by and refuses:
 *  - before authentication: more than `preauthBytes` in all (a CONNECT, will included, is
 *    well under 1 KiB; nothing else may come before CONNACK);
 *  - after: any packet whose remaining length exceeds `maxPacket` (the largest frame plus
 *    the topic and packet id).
 * The guard sits on the connection's read(): Aedes takes its input with `conn.read()`.
 */
import type { Duplex } from "node:stream";

export interface PacketViolation {
  /** The announced remaining length (-1: a malformed length field). */
  announced: number;
  limit: number;
  authenticated: boolean;
}

export class MqttPacketLimit {
  /** 0: expecting a fixed-header byte; 1: in the remaining-length field; 2: in a body. */
  private state = 0;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private body = 0;
  private preauthSeen = 0;
  authenticated = false;

  constructor(
    private readonly preauthBytes: number,
    private readonly maxPacket: number,
  ) {}

  /** Account for `buf`; a violation means: close the connection without parsing. */
  feed(buf: Buffer): PacketViolation | null {
    if (!this.authenticated) {
      this.preauthSeen += buf.length;
      if (this.preauthSeen > this.preauthBytes) {
        return { announced: this.preauthSeen, limit: this.preauthBytes, authenticated: false };
      }
    }
    let i = 0;
    while (i < buf.length) {
      if (this.state === 2) {
        const n = Math.min(this.body, buf.length - i);
        this.body -= n;
        i += n;
        if (this.body === 0) this.state = 0;
      } else if (this.state === 0) {
        i++; // packet type and flags
        this.state = 1;
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else {
        const b = buf[i++];
        this.length += (b & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes++;
        if (b & 0x80) {
          if (this.lengthBytes >= 4)
            return { announced: -1, limit: this.maxPacket, authenticated: this.authenticated };
          continue;
        }
        const limit = this.authenticated ? this.maxPacket : this.preauthBytes;
        if (this.length > limit) {
          return { announced: this.length, limit, authenticated: this.authenticated };
        }
        this.body = this.length;
        this.state = this.body === 0 ? 0 : 2;
      }
    }
    return null;
  }
}

/**
 * Put `limit` on the reads of `conn`: on a violation, `onViolation` is told and the
 * connection destroyed; the reader gets nothing more.
 */
export function guardReads(
  conn: Duplex,
  limit: MqttPacketLimit,
  onViolation: (v: PacketViolation) => void,
): void {
  const read = conn.read.bind(conn);
  let refused = false;
  conn.read = (size?: number) => {
    if (refused) return null;
    const chunk = read(size);
    if (chunk && chunk.length > 0) {
      const v = limit.feed(chunk as Buffer);
      if (v) {
        refused = true;
        onViolation(v);
        conn.destroy();
        return null;
      }
    }
    return chunk;
  };
}
