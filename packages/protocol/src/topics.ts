/**
 * Control-channel topic names (docs/protocol.md §2 Topics).
 * One up and one down topic per device, with a shard segment fixed at enrollment so that
 * several server replicas can split devices later without a wire change.
 */
export const TOPIC_ROOT = "tether/1";
export const SHARD_COUNT = 64;

export type Direction = "up" | "down";

export function deviceTopic(shard: number, deviceId: string, dir: Direction): string {
  return `${TOPIC_ROOT}/${shard}/${deviceId}/${dir}`;
}

/** Filter the server subscribes to for every device's upstream traffic. */
export const UP_FILTER = `${TOPIC_ROOT}/+/+/up`;
/** Filter covering every device's downstream topic (the server's publish grant on external brokers). */
export const DOWN_FILTER = `${TOPIC_ROOT}/+/+/down`;

export interface ParsedTopic {
  shard: number;
  deviceId: string;
  dir: Direction;
}

const TOPIC_RE = /^tether\/1\/(\d{1,5})\/([a-z0-9_-]{1,64})\/(up|down)$/;

export function parseTopic(topic: string): ParsedTopic | null {
  const m = TOPIC_RE.exec(topic);
  if (!m) return null;
  return { shard: Number(m[1]), deviceId: m[2], dir: m[3] as Direction };
}

/** Device ids are lowercase, topic-safe and never contain MQTT wildcards. */
export const DEVICE_ID_RE = /^dev_[a-z0-9]{20}$/;

export function isDeviceId(s: string): boolean {
  return DEVICE_ID_RE.test(s);
}

/** The shard is derived from the id once, at enrollment, and stored; never recomputed. */
export function shardFor(deviceId: string): number {
  let h = 2166136261;
  for (let i = 0; i < deviceId.length; i++) {
    h ^= deviceId.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % SHARD_COUNT;
}
