/**
 * Embedded broker: Aedes in the server process, TLS listener plus MQTT over WebSocket at
 * /mqtt on the HTTPS port. Authorisation (docs/protocol.md §3):
 *  - client id must equal username and be an accepted device whose password matches;
 *  - clean sessions only, so the broker queues nothing that could outlive a key;
 *  - a will is checked when the client connects (Aedes would check it only when it fires):
 *    a non-retained message on the device's own up topic (id and direction before login,
 *    shard at login);
 *  - PUBLISH only to the device's own up topic, never retained, never `$`-topics;
 *  - every filter of a SUBSCRIBE is checked: only the device's own down topic, exactly.
 * Sockets get setNoDelay (docs/architecture.md §5: Nagle + delayed ACK costs ~40 ms per hop).
 * Listener limits (docs/security.md "Listeners"): until its CONNECT is accepted a connection
 * (TLS or WebSocket) is timed out and counted by a PreauthGate (net/preauth.ts), may send at
 * most `preauthBytes`, and after that no packet may announce more than the frame cap
 * (broker/packet-limit.ts); the keepalive a client asks for is capped.
 */
import { once } from "node:events";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import tls from "node:tls";
import { deviceTopic, MAX_MESSAGE_BYTES, parseTopic, UP_FILTER } from "@tether/protocol";
import { Aedes, type Client } from "aedes";
import type { Logger } from "pino";
import { gateConnections, PreauthGate, type PreauthLimits, rawSocket } from "../net/preauth.js";
import type { BrokerHooks, BrokerLink, DeviceAuth } from "./broker-link.js";
import { guardReads, MqttPacketLimit } from "./packet-limit.js";

/** Frame overhead over the largest message: version, header, key id, counter, tag. */
const MAX_PAYLOAD = MAX_MESSAGE_BYTES + 1024;
/** Largest MQTT packet after authentication: a PUBLISH of MAX_PAYLOAD plus topic and packet id. */
export const MAX_MQTT_PACKET = MAX_PAYLOAD + 1024;

interface ClientInfo {
  auth: DeviceAuth;
}

function authError(code: number, msg: string) {
  const e = new Error(msg) as Error & { returnCode: number };
  e.returnCode = code;
  return e;
}

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  tls: { cert: string; key: string };
  hooks: BrokerHooks;
  log: Logger;
  publicHost?: string;
  /** Unauthenticated connections (TLS and WebSocket together), already fitted to the fd limit. */
  preauth: PreauthLimits;
  /** Bytes a client may send before its CONNECT is accepted. */
  preauthBytes: number;
  /** Largest keepalive a client may ask for, seconds. */
  maxKeepaliveSeconds: number;
}

export async function startEmbeddedBroker(o: EmbeddedBrokerOptions): Promise<BrokerLink & { port: number }> {
  const infos = new WeakMap<Client, ClientInfo>();
  const current = new Map<string, Client>();
  const gate = new PreauthGate("MQTT", o.preauth, o.log);
  /** Per connection stream: its packet-size guard and the key it is known by in the gate. */
  const conns = new WeakMap<object, { limit: MqttPacketLimit; key: object; address?: string }>();
  function handle(conn: Duplex, key: object, address: string | undefined, req?: IncomingMessage) {
    const limit = new MqttPacketLimit(o.preauthBytes, MAX_MQTT_PACKET);
    conns.set(conn, { limit, key, address });
    guardReads(conn, limit, (v) =>
      o.log.warn(
        { address, announced: v.announced, limit: v.limit, authenticated: v.authenticated },
        v.authenticated
          ? `refused MQTT packet of ${v.announced} bytes (limit ${v.limit}); connection closed`
          : `refused MQTT connection from ${address}: more than ${v.limit} bytes before authentication; connection closed`,
      ),
    );
    broker.handle(conn as any, req as any);
  }
  const broker = await Aedes.createBroker({
    heartbeatInterval: 60_000,
    connectTimeout: o.preauth.timeoutMs,
    maxClientsIdLength: 64,
    preConnect(client, packet, cb) {
      const sock = (client.conn as any)?.setNoDelay ? (client.conn as any) : (client.conn as any)?.socket;
      sock?.setNoDelay?.(true);
      const id = packet.clientId;
      // Devices use clean sessions, so the broker queues nothing that could outlive a key.
      if (packet.clean === false) return cb(authError(2, "clean session required"), false);
      const keepalive = packet.keepalive ?? 0;
      if (!(keepalive > 0 && keepalive <= o.maxKeepaliveSeconds)) {
        o.log.warn(
          { clientId: id, keepalive: packet.keepalive },
          `refused CONNECT: keepalive must be 1..${o.maxKeepaliveSeconds} s`,
        );
        return cb(authError(2, "keepalive out of range"), false);
      }
      if (!id || packet.username !== id) return cb(authError(2, "client id must equal username"), false);
      if (packet.will) {
        const t = parseTopic(packet.will.topic);
        if (!t || t.deviceId !== id || t.dir !== "up" || packet.will.retain) {
          o.log.warn({ deviceId: id, will: packet.will.topic }, "refused CONNECT: will outside own up topic");
          return cb(authError(5, "will must be a non-retained message on the device's own up topic"), false);
        }
      }
      cb(null, true);
    },
    authenticate(client, username, password, done) {
      o.hooks
        .authenticate(client.id, username, password)
        .then((auth) => {
          if (!auth) {
            o.log.info({ clientId: client.id }, "refused CONNECT: bad credentials or device not accepted");
            return done(authError(4, "bad username or password"), false);
          }
          // Aedes keeps the CONNECT will in _will until authentication succeeds.
          const w = (client as any)._will ?? (client as any).will;
          if (w && w.topic !== deviceTopic(auth.shard, auth.id, "up")) {
            return done(authError(5, "will topic"), false);
          }
          infos.set(client, { auth });
          // Authenticated: larger packets from now on, and no longer counted as waiting.
          const c = conns.get(client.conn as object);
          if (c) {
            c.limit.authenticated = true;
            gate.authenticated(c.key);
          }
          done(null, true);
        })
        .catch((err) => {
          o.log.error({ err }, "authenticate failed");
          done(authError(3, "server unavailable"), false);
        });
    },
    authorizePublish(client, packet, cb) {
      if (!client) return cb(null); // the server's own in-process publishes
      const info = infos.get(client);
      const t = parseTopic(packet.topic);
      if (
        !info ||
        packet.retain ||
        !t ||
        t.dir !== "up" ||
        t.deviceId !== info.auth.id ||
        t.shard !== info.auth.shard ||
        (packet.payload as Buffer).length > MAX_PAYLOAD
      ) {
        o.log.warn({ clientId: client.id, topic: packet.topic, retain: packet.retain }, "refused PUBLISH");
        return cb(new Error("publish not authorised"));
      }
      cb(null);
    },
    authorizeSubscribe(client, sub, cb) {
      const info = infos.get(client);
      if (!info || sub.topic !== deviceTopic(info.auth.shard, info.auth.id, "down")) {
        o.log.warn({ clientId: client.id, filter: sub.topic }, "refused SUBSCRIBE filter");
        return cb(null, null); // SUBACK 0x80 for this filter
      }
      cb(null, sub);
    },
    authorizeForward(client, packet) {
      // Defence in depth: a device only ever receives its own down topic.
      const info = infos.get(client);
      if (!info) return null;
      return packet.topic === deviceTopic(info.auth.shard, info.auth.id, "down") ? packet : null;
    },
  });

  /** Devices kicked for good (revoked): a connection that slipped past authentication just
   * before the revocation is closed as soon as it is ready. */
  const kicked = new Set<string>();
  broker.on("clientReady", (client) => {
    const info = infos.get(client);
    if (!info) return;
    if (kicked.has(info.auth.id)) {
      client.close();
      return;
    }
    current.set(info.auth.id, client);
  });
  broker.on("clientDisconnect", (client) => {
    const info = infos.get(client);
    if (info && current.get(info.auth.id) === client) {
      current.delete(info.auth.id);
      o.hooks.onDisconnect(info.auth.id);
    }
  });
  broker.on("clientError", (client, err) =>
    o.log.debug({ clientId: client?.id, err: err.message }, "client error"),
  );
  broker.on("connectionError", (client, err) =>
    o.log.debug({ clientId: client?.id, err: err.message }, "connection error"),
  );

  await new Promise<void>((resolve) =>
    broker.subscribe(
      UP_FILTER,
      (packet, cb) => {
        const t = parseTopic(packet.topic);
        if (t) o.hooks.onUp(t.deviceId, packet.payload as Buffer);
        cb();
      },
      resolve,
    ),
  );

  const server = tls.createServer(
    { cert: o.tls.cert, key: o.tls.key, handshakeTimeout: o.preauth.timeoutMs },
    (socket) => {
      socket.setNoDelay(true);
      socket.on("error", () => {});
      const raw = rawSocket(socket);
      // Timed out or evicted during the handshake: nothing to serve.
      if (!gate.pending(raw)) return void socket.destroy();
      handle(socket, raw, raw.remoteAddress);
    },
  );
  // Every accepted TCP connection counts as unauthenticated until its CONNECT is accepted.
  gateConnections(server, gate);
  // Node reports a failed or timed-out handshake here but leaves the socket open: close it.
  server.on("tlsClientError", (err, socket) => {
    o.log.debug({ err: err.message }, "TLS client error on MQTT port");
    socket.destroy();
    rawSocket(socket).destroy();
  });
  server.listen(o.port, o.host);
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  const host = o.publicHost ?? (o.host === "0.0.0.0" || o.host === "::" ? "localhost" : o.host);

  return {
    kind: "embedded",
    port,
    mqttUrl: `mqtts://${host.includes(":") ? `[${host}]` : host}:${port}`,
    publish(topic, payload) {
      return new Promise((resolve, reject) =>
        broker.publish({ cmd: "publish", topic, payload, qos: 1, retain: false, dup: false }, (err) =>
          err ? reject(err) : resolve(),
        ),
      );
    },
    kick(deviceId) {
      kicked.add(deviceId);
      // Both the tracked client and whatever Aedes holds under the id (a client whose
      // CONNACK went out but whose 'clientReady' has not fired yet is only in the latter).
      current.get(deviceId)?.close();
      (broker as any).clients?.[deviceId]?.close();
    },
    disconnect(deviceId) {
      current.get(deviceId)?.close();
    },
    isConnected(deviceId) {
      return current.has(deviceId);
    },
    handleWebSocket(stream: Duplex, req: IncomingMessage) {
      const raw = rawSocket(req.socket);
      gate.admit(raw, raw.remoteAddress);
      handle(stream, raw, raw.remoteAddress, req);
    },
    async close() {
      server.close();
      gate.closeAll();
      for (const c of current.values()) c.close();
      await new Promise<void>((r) => broker.close(() => r()));
    },
  };
}
