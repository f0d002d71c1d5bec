/**
 * Offset-checked assembly of command output (docs/protocol.md §13). Output of a run travels
 * as chunks of bytes per device and stream; a chunk may arrive twice (a replay after a
 * reconnect, a live chunk overlapping what the replay already sent). Every consumer keeps,
 * per stream, how many bytes it has passed on, and passes on only the bytes past that.
 *
 * Browser-safe: no Node modules, Uint8Array only (a Buffer in is a Buffer out).
 */

export type OutputStreamName = "stdout" | "stderr";

/** The key of one device's stream: `deviceId/stdout` or `deviceId/stderr`. */
export function outputKey(deviceId: string, stream: OutputStreamName): string {
  return `${deviceId}/${stream}`;
}

/**
 * Per stream, the bytes [0, delivered) have been passed on. `accept(key, offset, data)` takes
 * a chunk that starts at byte `offset` of its stream and returns what is new in it: the whole
 * chunk, its tail (when it overlaps what was delivered), or null (nothing new).
 * A chunk that starts past the delivered end (a gap) is accepted as it is: the gap cannot be
 * filled here.
 */
export class OutputAssembler {
  private readonly delivered_ = new Map<string, number>();

  accept<T extends Uint8Array>(key: string, offset: number, data: T): T | null {
    const have = this.delivered_.get(key) ?? 0;
    const end = offset + data.length;
    if (end <= have) return null;
    this.delivered_.set(key, end);
    return offset < have ? (data.subarray(have - offset) as T) : data;
  }

  /** Bytes of `key` passed on so far. */
  delivered(key: string): number {
    return this.delivered_.get(key) ?? 0;
  }

  /** Record that bytes [0, n) of `key` went out another way (e.g. a replay written directly). */
  markDelivered(key: string, n: number): void {
    this.delivered_.set(key, n);
  }

  /** Forget one stream, or everything (the output will be shown again from its start). */
  reset(key?: string): void {
    if (key === undefined) this.delivered_.clear();
    else this.delivered_.delete(key);
  }

  /**
   * For a transport that sends no offsets but replays each stream from its start on every
   * connection (the public event stream): a cursor that counts the bytes of this connection
   * so far as the offset of the next chunk. Start a new cursor on every (re)connect; the
   * assembler keeps what was delivered across them.
   */
  replay(): OutputCursor {
    const pos = new Map<string, number>();
    return {
      accept: <T extends Uint8Array>(key: string, data: T): T | null => {
        const at = pos.get(key) ?? 0;
        pos.set(key, at + data.length);
        return this.accept(key, at, data);
      },
    };
  }
}

export interface OutputCursor {
  /** The next chunk of `key` on this connection; returns its new part, or null. */
  accept<T extends Uint8Array>(key: string, data: T): T | null;
}

/** Base64 → bytes (browser and Node); undecodable input gives no bytes rather than an exception. */
export function base64ToBytes(b64: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(b64);
  } catch {
    return new Uint8Array(0);
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Bytes → base64 (browser and Node). */
export function bytesToBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}
