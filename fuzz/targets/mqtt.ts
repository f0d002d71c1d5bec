/**
 * MQTT fixed headers as they arrive on a listener: the pre-parse packet-size guard
 * (server broker/packet-limit.ts, MqttPacketLimit.feed) over the bytes in two reads, then
 * — when it lets them through — the MQTT parser the embedded broker uses (mqtt-packet).
 * Contract: feed never throws and returns null or a violation; the parser reports bad
 * input through its 'error' event, never by throwing; no packet the guard let through
 * announces more than the limit.
 */
import mqttPacket from "mqtt-packet";
import { MqttPacketLimit } from "../../packages/server/src/broker/packet-limit.js";
import type { Target } from "../lib.js";

const PREAUTH = 4096;
const MAX = 300_000;

export class GuardBroken extends Error {}

const gen = (p: object) => mqttPacket.generate(p as any);

export const mqtt: Target = {
  name: "mqtt",
  what: "MqttPacketLimit.feed (fixed header / remaining length), mqtt-packet parser",
  seeds: () => [
    gen({
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: 4,
      clean: true,
      clientId: "dev_0123456789abcdef",
      keepalive: 60,
      username: "dev_0123456789abcdef",
      password: Buffer.from("secret"),
      will: {
        topic: "tether/v1/0/dev_0123456789abcdef/up",
        payload: Buffer.alloc(82, 1),
        qos: 1,
        retain: false,
      },
    }),
    gen({
      cmd: "publish",
      topic: "tether/v1/0/dev_x/up",
      payload: Buffer.alloc(64, 7),
      qos: 1,
      messageId: 1,
    }),
    gen({ cmd: "subscribe", messageId: 2, subscriptions: [{ topic: "tether/v1/0/dev_x/down", qos: 1 }] }),
    gen({ cmd: "pingreq" }),
    Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]),
  ],
  dictionary: ["\xff\xff\xff\x7f", "\x80\x80\x80\x80", "\x30", "\x10", "\xe0\x00", "MQTT"],
  run(input) {
    const authenticated = (input.length & 1) === 1;
    const limit = new MqttPacketLimit(PREAUTH, MAX);
    limit.authenticated = authenticated;
    const cut = input.length ? input[0] % input.length : 0;
    const v = limit.feed(input.subarray(0, cut)) ?? limit.feed(input.subarray(cut));
    if (v) {
      if (typeof v.announced !== "number" || typeof v.limit !== "number")
        throw new GuardBroken("bad violation");
      return;
    }
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on("error", () => {});
    parser.on("packet", (p: { length: number }) => {
      if (p.length > (authenticated ? MAX : PREAUTH))
        throw new GuardBroken(`packet of ${p.length} let through`);
    });
    parser.parse(input);
  },
  expected: () => false,
};
