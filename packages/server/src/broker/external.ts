/**
 * External broker: Mosquitto 2.x with its dynamic-security plugin (docs/architecture.md §2, §6;
 * docs/protocol.md §3). The server is an ordinary MQTT client of the broker and manages
 * the broker's users through the dynsec control topic:
 *
 *  - `tether-server`: a dynsec client + role for the server's own connection, allowed to
 *    subscribe `tether/1/+/+/up` and publish `tether/1/+/+/down` only; its password is
 *    random, set at every start and kept in memory (the dynsec admin is used only on the
 *    control topic).
 *  - per device: role `tether-dev-<id>` (publish its own up topic, subscribe exactly its
 *    own down topic, receive only its own down topic; everything else denied) and client
 *    username = client id = device id, with the broker password from enrollment. Dynsec
 *    binds the client id to the username, so one device can never take over another's.
 *  - default ACL access: publishClientSend and subscribe denied broker-wide.
 *
 * Order matters: a client is deleted before its role. Mosquitto 2.0.11 crashes some time
 * after a role that a client still holds is deleted.
 *
 * Presence comes only from wills and `bye` (§9): the server cannot see other clients'
 * sockets. Revocation disables the dynsec client (which closes its connection); deleting a
 * device deletes client and role. At start, reconcile() makes the broker agree with the
 * database and closes every device connection once, so agents handshake with this
 * (restarted) server instead of staying connected under keys it has forgotten.
 *
 * What dynsec cannot enforce that the embedded broker does: clean session = 1, payload
 * size (set `max_packet_size` in mosquitto.conf), retained messages (set
 * `retain_available false`). None of them lets a device read or forge anything: the
 * payloads are end-to-end encrypted (§4, §5).
 */
import { randomBytes } from "node:crypto";
import { DOWN_FILTER, deviceTopic, isDeviceId, parseTopic, UP_FILTER } from "@tether/protocol";
import type { Kysely } from "kysely";
import mqtt, { type MqttClient } from "mqtt";
import type { Logger } from "pino";
import type { DB } from "../store/schema.js";
import type { BrokerHooks, BrokerLink } from "./broker-link.js";
import { type DynsecAcl, type DynsecCommand, DynsecClient, readAdminFile } from "./dynsec.js";

export const SERVER_USERNAME = "tether-server";
export const SERVER_ROLE = "tether-server";
const DEVICE_ROLE_PREFIX = "tether-dev-";

export const deviceRole = (deviceId: string) => `${DEVICE_ROLE_PREFIX}${deviceId}`;

/** ACLs of a device's role: its own two topics, nothing else. */
export function deviceAcls(shard: number, deviceId: string): DynsecAcl[] {
  const up = deviceTopic(shard, deviceId, "up");
  const down = deviceTopic(shard, deviceId, "down");
  return [
    { acltype: "publishClientSend", topic: up, allow: true, priority: 10 },
    { acltype: "subscribeLiteral", topic: down, allow: true, priority: 10 },
    { acltype: "publishClientReceive", topic: down, allow: true, priority: 10 },
    // Explicit denials, so a permissive default ACL access cannot widen a device's rights.
    { acltype: "publishClientSend", topic: "#", allow: false, priority: 0 },
    { acltype: "subscribePattern", topic: "#", allow: false, priority: 0 },
    { acltype: "publishClientReceive", topic: "#", allow: false, priority: 0 },
  ];
}

export const SERVER_ACLS: DynsecAcl[] = [
  { acltype: "subscribePattern", topic: UP_FILTER, allow: true, priority: 10 },
  { acltype: "publishClientReceive", topic: UP_FILTER, allow: true, priority: 10 },
  { acltype: "publishClientSend", topic: DOWN_FILTER, allow: true, priority: 10 },
  { acltype: "publishClientSend", topic: "#", allow: false, priority: 0 },
  { acltype: "subscribePattern", topic: "#", allow: false, priority: 0 },
];

export interface ReconcileDevice {
  id: string;
  shard: number;
  state: string;
  /** "0" until the first handshake: such a device gets a new credential on its next poll. */
  hs_counter?: string;
  broker_password_hash?: string | null;
}

export interface ReconcileReport {
  deleted: string[];
  disabled: string[];
  enabled: string[];
  repaired: string[];
  missing: string[];
  orphanRoles: string[];
  kicked: number;
}

export interface ExternalBrokerOptions {
  /** mqtt:// or mqtts:// address the server uses. */
  url: string;
  /** JSON {"username","password"} of the dynsec admin. */
  adminFile: string;
  /** Address given to agents in the enrollment response (default: url). */
  agentUrl?: string;
  /** PEM CA for an mqtts:// url (default: system roots). */
  caCert?: string;
  hooks: Pick<BrokerHooks, "onUp">;
  log: Logger;
  /** Lets sync() look devices up (deletions, revocations). */
  db?: Kysely<DB>;
  /** Dynsec request timeout per attempt (tests shorten it). */
  dynsecTimeoutMs?: number;
}

export interface ExternalBroker extends BrokerLink {
  readonly kind: "external";
  readonly dynsec: DynsecClient;
  /** Subscribe to every device's up topic, then reconcile (call after control.attach). */
  start(devices: ReconcileDevice[], o?: { kick?: boolean }): Promise<ReconcileReport>;
  /** Create or update a device's dynsec client and role with this password. */
  setCredential(device: { id: string; shard: number }, password: string): Promise<void>;
  /** Revoke: refuse new connections and close the current one. */
  disable(deviceId: string): Promise<void>;
  /** Delete the device's client and role. */
  remove(deviceId: string): Promise<void>;
  /** Make the broker agree with the database about one device (deleted or no longer accepted). */
  sync(deviceId: string): Promise<void>;
  reconcile(devices: ReconcileDevice[], o?: { kick?: boolean }): Promise<ReconcileReport>;
}

/** The device columns reconcile() needs, straight from the database. */
export async function loadReconcileDevices(db: Kysely<DB>): Promise<ReconcileDevice[]> {
  return db
    .selectFrom("devices")
    .select(["id", "shard", "state", "hs_counter", "broker_password_hash"])
    .execute();
}

const CHUNK = 200;

export async function startExternalBroker(o: ExternalBrokerOptions): Promise<ExternalBroker> {
  const log = o.log;
  const admin = readAdminFile(o.adminFile);
  const dynsec = await DynsecClient.connect({
    url: o.url,
    admin,
    log,
    caCert: o.caCert,
    timeoutMs: o.dynsecTimeoutMs,
  });

  /** Many commands in chunks; every response comes back (errors included). */
  const runAll = async (commands: DynsecCommand[]) => {
    const out = [];
    for (let i = 0; i < commands.length; i += CHUNK)
      out.push(...(await dynsec.run(commands.slice(i, i + CHUNK))));
    return out;
  };

  try {
    // Broker-wide: nothing may publish or subscribe unless a role allows it.
    const def = await dynsec.getDefaultACLAccess();
    const want = [
      { acltype: "publishClientSend", allow: false },
      { acltype: "subscribe", allow: false },
    ];
    const wrong = want.filter((w) => def.acls.find((a) => a.acltype === w.acltype)?.allow !== w.allow);
    if (wrong.length) {
      await dynsec.setDefaultACLAccess(wrong);
      log.warn({ changed: wrong.map((w) => w.acltype) }, "broker: default ACL access set to deny");
    }

    // The server's own client and role.
    if (!(await dynsec.createRole(SERVER_ROLE, SERVER_ACLS))) {
      const role = await dynsec.getRole(SERVER_ROLE);
      for (const acl of SERVER_ACLS) {
        const has = role?.acls.find((a) => a.acltype === acl.acltype && a.topic === acl.topic);
        if (has && has.allow === acl.allow) continue;
        if (has) await dynsec.removeRoleACL(SERVER_ROLE, acl.acltype, acl.topic);
        await dynsec.addRoleACL(SERVER_ROLE, acl);
      }
    }
  } catch (err) {
    await dynsec.close();
    throw err;
  }
  const serverPassword = randomBytes(32).toString("base64url");
  const ensureServerClient = async () => {
    if (
      !(await dynsec.createClient({
        username: SERVER_USERNAME,
        password: serverPassword,
        roles: [SERVER_ROLE],
      }))
    ) {
      const info = await dynsec.getClient(SERVER_USERNAME);
      await dynsec.setClientPassword(SERVER_USERNAME, serverPassword);
      if (!info?.roles.some((r) => r.rolename === SERVER_ROLE))
        await dynsec.addClientRole(SERVER_USERNAME, SERVER_ROLE);
      if (info?.disabled) await dynsec.enableClient(SERVER_USERNAME);
    }
  };
  try {
    await ensureServerClient();
  } catch (err) {
    await dynsec.close();
    throw err;
  }

  const client: MqttClient = mqtt.connect(o.url, {
    clientId: `${SERVER_USERNAME}-${randomBytes(6).toString("hex")}`,
    username: SERVER_USERNAME,
    password: serverPassword,
    protocolVersion: 4,
    clean: true,
    keepalive: 30,
    reconnectPeriod: 1000,
    connectTimeout: 15_000,
    ...(o.caCert ? { ca: o.caCert } : {}),
  });
  client.on("connect", () => {
    (client.stream as any)?.setNoDelay?.(true);
    log.info({ url: o.url }, "server connected to the external broker");
  });
  client.on("offline", () => log.warn({ url: o.url }, "lost the external broker; reconnecting"));
  client.on("error", (err: any) =>
    log.warn({ err: err?.message, code: err?.code }, "external broker connection error"),
  );
  client.on("message", (topic, payload) => {
    const t = parseTopic(topic);
    // The broker's ACLs let a device publish only its own up topic, so the topic names the sender.
    if (t && t.dir === "up") o.hooks.onUp(t.deviceId, payload);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no CONNACK from the broker at ${o.url}`)), 15_000);
      client.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
      client.on("error", (err: any) => {
        if (typeof err?.code === "number") {
          clearTimeout(timer);
          reject(new Error(`the broker refused ${SERVER_USERNAME} (CONNACK ${err.code})`));
        }
      });
    });
  } catch (err) {
    client.end(true);
    await dynsec.close();
    throw err;
  }

  // Per-device operations run one after another for the same device.
  const chains = new Map<string, Promise<unknown>>();
  const serial = <T>(id: string, fn: () => Promise<T>): Promise<T> => {
    const prev = chains.get(id) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    chains.set(id, next);
    void next
      .catch(() => {})
      .then(() => {
        if (chains.get(id) === next) chains.delete(id);
      });
    return next;
  };

  const disable = (deviceId: string) =>
    serial(deviceId, async () => {
      const [r] = await dynsec.run([{ command: "disableClient", username: deviceId }]);
      if (r.error === "Client not found") {
        log.debug({ deviceId }, "broker: no client to disable");
        return;
      }
      if (r.error) throw new Error(`dynsec disableClient ${deviceId}: ${r.error}`);
      log.info({ deviceId }, "broker: device client disabled (connection closed, reconnects refused)");
    });

  const remove = (deviceId: string) =>
    serial(deviceId, async () => {
      const c = await dynsec.deleteClient(deviceId);
      const r = await dynsec.deleteRole(deviceRole(deviceId));
      if (c || r) log.info({ deviceId }, "broker: device client and role deleted");
    });

  const reconcile = async (
    devices: ReconcileDevice[],
    ro: { kick?: boolean } = {},
  ): Promise<ReconcileReport> => {
    const report: ReconcileReport = {
      deleted: [],
      disabled: [],
      enabled: [],
      repaired: [],
      missing: [],
      orphanRoles: [],
      kicked: 0,
    };
    const byId = new Map(devices.map((d) => [d.id, d]));
    const all = await dynsec.listClients();
    const clients = all.filter((c) => isDeviceId(c.username));
    // Roles some client still holds are never deleted: Mosquitto 2.0.11 keeps a dangling
    // reference in the client and crashes later.
    const held = new Set(all.flatMap((c) => c.roles.map((r) => r.rolename)));
    const roles = new Set((await dynsec.listRoles()).filter((r) => r.startsWith(DEVICE_ROLE_PREFIX)));
    const inBroker = new Set<string>();
    const cmds: DynsecCommand[] = [];
    const kicks: DynsecCommand[] = [];
    for (const c of clients) {
      const id = c.username;
      inBroker.add(id);
      const d = byId.get(id);
      const role = deviceRole(id);
      if (!d) {
        cmds.push({ command: "deleteClient", username: id }, { command: "deleteRole", rolename: role });
        roles.delete(role);
        report.deleted.push(id);
        continue;
      }
      if (d.state !== "accepted") {
        if (!c.disabled) {
          cmds.push({ command: "disableClient", username: id });
          report.disabled.push(id);
        }
        continue;
      }
      // Accepted: the client must be enabled, bound to its id, and hold its role with the right ACLs.
      let repaired = false;
      if (c.disabled) {
        cmds.push({ command: "enableClient", username: id });
        report.enabled.push(id);
      }
      if (c.clientid !== id) {
        cmds.push({ command: "setClientId", username: id, clientid: id });
        repaired = true;
      }
      if (!roles.has(role)) {
        cmds.push({ command: "createRole", rolename: role, acls: deviceAcls(d.shard, id) });
        repaired = true;
      }
      if (!c.roles.some((r) => r.rolename === role)) {
        cmds.push({ command: "addClientRole", username: id, rolename: role });
        repaired = true;
      }
      if (c.roles.some((r) => r.rolename !== role)) {
        for (const r of c.roles.filter((x) => x.rolename !== role)) {
          cmds.push({ command: "removeClientRole", username: id, rolename: r.rolename });
        }
        repaired = true;
      }
      if (repaired) report.repaired.push(id);
      roles.delete(role);
      if (ro.kick !== false) {
        kicks.push({ command: "disableClient", username: id }, { command: "enableClient", username: id });
        report.kicked++;
      }
    }
    for (const role of roles) {
      const id = role.slice(DEVICE_ROLE_PREFIX.length);
      if (inBroker.has(id) || held.has(role)) continue; // a kept (disabled) client's role
      cmds.push({ command: "deleteRole", rolename: role });
      report.orphanRoles.push(role);
    }
    for (const d of devices) {
      if (d.state === "accepted" && !inBroker.has(d.id)) report.missing.push(d.id);
    }
    const failures = [...(await runAll(cmds)), ...(await runAll(kicks))].filter(
      (r) => r.error && r.error !== "Client not found" && r.error !== "Role not found",
    );
    for (const f of failures)
      log.error({ command: f.command, error: f.error }, "broker reconciliation: command failed");

    for (const id of report.deleted) {
      log.warn(
        { deviceId: id },
        "broker reconciliation: deleted broker client of a device that does not exist",
      );
    }
    for (const id of report.disabled) {
      log.warn(
        { deviceId: id, state: byId.get(id)?.state },
        "broker reconciliation: disabled broker client of a device that is not accepted",
      );
    }
    for (const id of report.enabled) {
      log.warn(
        { deviceId: id },
        "broker reconciliation: enabled the disabled broker client of an accepted device",
      );
    }
    for (const id of report.repaired) {
      log.warn({ deviceId: id }, "broker reconciliation: repaired client id / role of an accepted device");
    }
    for (const id of report.missing) {
      const d = byId.get(id)!;
      if (d.hs_counter === "0") {
        log.warn(
          { deviceId: id },
          "broker reconciliation: accepted device has no broker client; it gets one with its next enrollment poll",
        );
      } else {
        log.error(
          { deviceId: id },
          "broker reconciliation: accepted device has NO broker client and cannot connect; its credential was lost " +
            "(broker reset?). Re-enroll the device (delete it and run the agent with a new token).",
        );
      }
    }
    log.info(
      {
        brokerClients: clients.length,
        deleted: report.deleted.length,
        disabled: report.disabled.length,
        enabled: report.enabled.length,
        repaired: report.repaired.length,
        missing: report.missing.length,
        orphanRoles: report.orphanRoles.length,
        kicked: report.kicked,
        failures: failures.length,
      },
      "broker reconciliation done",
    );
    return report;
  };

  let closed = false;
  const link: ExternalBroker = {
    kind: "external",
    dynsec,
    mqttUrl: o.agentUrl ?? o.url,
    async start(devices, so) {
      const granted = await client.subscribeAsync(UP_FILTER, { qos: 1 });
      if (!granted[0] || granted[0].qos === 128) {
        throw new Error(`the broker refused the server's subscription to ${UP_FILTER}`);
      }
      return reconcile(devices, so);
    },
    publish(topic, payload) {
      if (!client.connected) return Promise.reject(new Error("not connected to the external broker"));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error("the external broker did not acknowledge a publish")),
          10_000,
        );
        client.publish(topic, payload, { qos: 1, retain: false }, (err) => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve();
        });
      });
    },
    disconnect() {
      // Mosquitto closes a client's connection itself when its password changes.
    },
    kick(deviceId) {
      // Close the connection but leave the device allowed to reconnect.
      void serial(deviceId, () => dynsec.kickClient(deviceId)).catch((err) =>
        log.warn({ deviceId, err: err.message }, "broker: could not close a device's connection"),
      );
    },
    isConnected() {
      // Unknown: the server cannot see other clients' sockets on an external broker.
      return false;
    },
    async setCredential(device, password) {
      await serial(device.id, async () => {
        const role = deviceRole(device.id);
        await dynsec.createRole(role, deviceAcls(device.shard, device.id));
        const created = await dynsec.createClient({
          username: device.id,
          password,
          clientid: device.id,
          roles: [role],
        });
        if (!created) {
          const info = await dynsec.getClient(device.id);
          await dynsec.setClientPassword(device.id, password);
          if (info?.clientid !== device.id) await dynsec.setClientId(device.id, device.id);
          if (!info?.roles.some((r) => r.rolename === role)) await dynsec.addClientRole(device.id, role);
          if (info?.disabled) await dynsec.enableClient(device.id);
        }
        log.info({ deviceId: device.id, created }, "broker: device credential set");
      });
    },
    disable,
    remove,
    async sync(deviceId) {
      if (!o.db) return;
      const d = await o.db
        .selectFrom("devices")
        .select(["id", "state"])
        .where("id", "=", deviceId)
        .executeTakeFirst();
      if (!d) await remove(deviceId);
      else if (d.state !== "accepted" && d.state !== "pending") await disable(deviceId);
    },
    reconcile,
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((r) => client.end(false, {}, () => r()));
      await dynsec.close();
    },
  };
  return link;
}
