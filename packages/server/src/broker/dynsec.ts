/**
 * Client for Mosquitto's dynamic-security plugin (docs/architecture.md §2, docs/protocol.md §3):
 * JSON commands published on `$CONTROL/dynamic-security/v1`, answers on
 * `$CONTROL/dynamic-security/v1/response`, correlated by the `correlationData` field that
 * the plugin echoes. The connection logs in as the dynsec admin (a file
 * {"username","password"}, so the secret stays out of `ps` and shell history).
 *
 * A request that gets no answer in time is sent again with backoff (new correlation ids);
 * callers make their commands safe to repeat (e.g. "already exists" counts as done).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import mqtt, { type MqttClient } from "mqtt";
import type { Logger } from "pino";

export const DYNSEC_TOPIC = "$CONTROL/dynamic-security/v1";
export const DYNSEC_RESPONSE_TOPIC = "$CONTROL/dynamic-security/v1/response";

export type AclType =
  | "publishClientSend"
  | "publishClientReceive"
  | "subscribeLiteral"
  | "subscribePattern"
  | "unsubscribeLiteral"
  | "unsubscribePattern";

export interface DynsecAcl {
  acltype: AclType;
  topic: string;
  allow: boolean;
  /** Higher is evaluated first. */
  priority?: number;
}

export interface DynsecCommand {
  command: string;
  [k: string]: unknown;
}

export interface DynsecResponse {
  command: string;
  error?: string;
  data?: any;
  correlationData?: string;
}

export interface DynsecClientInfo {
  username: string;
  clientid?: string;
  disabled?: boolean;
  roles: { rolename: string; priority?: number }[];
}

export interface AdminCredentials {
  username: string;
  password: string;
}

export class DynsecError extends Error {
  constructor(
    readonly command: string,
    readonly error: string,
  ) {
    super(`dynsec ${command}: ${error}`);
    this.name = "DynsecError";
  }
}

export function readAdminFile(file: string): AdminCredentials {
  let j: any;
  try {
    j = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`cannot read the broker admin file ${file}: ${(err as Error).message}`);
  }
  if (typeof j?.username !== "string" || typeof j?.password !== "string" || !j.username) {
    throw new Error(`the broker admin file ${file} must be JSON {"username": "...", "password": "..."}`);
  }
  return { username: j.username, password: j.password };
}

export interface DynsecOptions {
  url: string;
  admin: AdminCredentials;
  log: Logger;
  /** PEM CA for mqtts:// brokers (default: the system's roots). */
  caCert?: string;
  /** Per attempt (default 5 s). */
  timeoutMs?: number;
  /** Attempts per request (default 4: backoff 0.5, 1, 2 s between them). */
  attempts?: number;
  /** Time allowed for the first connection (default 15 s). */
  connectTimeoutMs?: number;
}

interface Pending {
  resolve(r: DynsecResponse): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class DynsecClient {
  private readonly pending = new Map<string, Pending>();
  private seq = 0;
  private readonly prefix = randomBytes(4).toString("hex");
  private closed = false;

  private constructor(
    private readonly mqtt: MqttClient,
    private readonly o: DynsecOptions,
  ) {
    mqtt.on("message", (topic, payload) => {
      if (topic !== DYNSEC_RESPONSE_TOPIC) return;
      let msg: { responses?: DynsecResponse[] };
      try {
        msg = JSON.parse(payload.toString("utf8"));
      } catch {
        this.o.log.warn("dynsec: unparseable response ignored");
        return;
      }
      for (const r of msg.responses ?? []) {
        const cd = r.correlationData;
        const p = cd ? this.pending.get(cd) : undefined;
        if (p) {
          this.pending.delete(cd!);
          p.resolve(r);
        }
      }
    });
  }

  /** Connect as the dynsec admin and subscribe to the response topic. */
  static async connect(o: DynsecOptions): Promise<DynsecClient> {
    const clientId = `tether-dynsec-${randomBytes(6).toString("hex")}`;
    const c = mqtt.connect(o.url, {
      clientId,
      username: o.admin.username,
      password: o.admin.password,
      protocolVersion: 4,
      clean: true,
      keepalive: 30,
      reconnectPeriod: 1000,
      connectTimeout: o.connectTimeoutMs ?? 15_000,
      ...(o.caCert ? { ca: o.caCert } : {}),
    });
    c.on("connect", () => (c.stream as any)?.setNoDelay?.(true));
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`no CONNACK from the broker at ${o.url}`)),
          o.connectTimeoutMs ?? 15_000,
        );
        c.once("connect", () => {
          clearTimeout(t);
          resolve();
        });
        c.on("error", (err: any) => {
          if (typeof err?.code === "number") {
            clearTimeout(t);
            reject(
              new Error(
                `the broker at ${o.url} refused the dynsec admin ${JSON.stringify(o.admin.username)} (CONNACK ${err.code})`,
              ),
            );
          }
        });
      });
      const granted = await c.subscribeAsync(DYNSEC_RESPONSE_TOPIC, { qos: 1 });
      if (!granted[0] || granted[0].qos === 128) {
        throw new Error(
          `the broker refused ${o.admin.username}'s subscription to ${DYNSEC_RESPONSE_TOPIC}: is it the dynsec admin?`,
        );
      }
    } catch (err) {
      c.end(true);
      throw err;
    }
    c.on("error", (err) => o.log.warn({ err: err.message }, "dynsec admin connection error"));
    c.on("offline", () => o.log.warn({ url: o.url }, "dynsec admin connection lost; reconnecting"));
    c.on("reconnect", () => o.log.debug("dynsec admin connection: reconnecting"));
    o.log.info(
      { url: o.url, username: o.admin.username },
      "connected to the broker's dynamic-security plugin",
    );
    return new DynsecClient(c, o);
  }

  /**
   * Send commands in one message; resolves with one response per command (errors are
   * in the responses, not thrown). Retries the whole batch with backoff if any answer is late.
   */
  async run(commands: DynsecCommand[]): Promise<DynsecResponse[]> {
    const attempts = this.o.attempts ?? 4;
    const timeoutMs = this.o.timeoutMs ?? 5000;
    const names = commands.map((c) => c.command).join(",");
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new Error("dynsec client closed");
      const ids = commands.map(() => `${this.prefix}-${++this.seq}`);
      const waits = ids.map(
        (id) => new Promise<DynsecResponse>((resolve) => this.pending.set(id, { resolve })),
      );
      const body = JSON.stringify({ commands: commands.map((c, i) => ({ ...c, correlationData: ids[i] })) });
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<null>((r) => {
        timer = setTimeout(() => r(null), timeoutMs);
      });
      try {
        if (this.mqtt.connected) {
          // QoS 1 publish; its PUBACK is awaited together with the answers.
          this.mqtt.publish(DYNSEC_TOPIC, body, { qos: 1 }, (err) => {
            if (err) this.o.log.warn({ err: err.message, commands: names }, "dynsec: publish failed");
          });
        }
        const got = await Promise.race([Promise.all(waits), late]);
        if (got) return got;
      } finally {
        clearTimeout(timer);
        for (const id of ids) this.pending.delete(id);
      }
      const why = this.mqtt.connected ? `no answer within ${timeoutMs} ms` : "not connected to the broker";
      if (attempt >= attempts) {
        this.o.log.error(
          { commands: names, attempts },
          `dynsec: ${why}; giving up (is the dynamic-security plugin loaded, and ${this.o.admin.username} its admin?)`,
        );
        throw new Error(`dynsec ${names}: ${why} after ${attempts} attempts`);
      }
      const backoff = 500 * 2 ** (attempt - 1);
      this.o.log.warn({ commands: names, attempt, attempts, retryInMs: backoff }, `dynsec: ${why}; retrying`);
      await sleep(backoff);
    }
  }

  /** One command; throws DynsecError if the plugin reports an error. */
  async one(command: DynsecCommand): Promise<any> {
    const [r] = await this.run([command]);
    if (r.error) throw new DynsecError(r.command, r.error);
    return r.data;
  }

  /** One command where some errors mean "already so" (e.g. "Client already exists"). */
  private async tolerant(command: DynsecCommand, ok: string[]): Promise<boolean> {
    const [r] = await this.run([command]);
    if (!r.error) return true;
    if (ok.includes(r.error)) return false;
    throw new DynsecError(r.command, r.error);
  }

  getDefaultACLAccess(): Promise<{ acls: { acltype: string; allow: boolean }[] }> {
    return this.one({ command: "getDefaultACLAccess" });
  }

  async setDefaultACLAccess(acls: { acltype: string; allow: boolean }[]): Promise<void> {
    await this.one({ command: "setDefaultACLAccess", acls });
  }

  /** false if the role existed already (its ACLs are then left as they are). */
  createRole(rolename: string, acls: DynsecAcl[]): Promise<boolean> {
    return this.tolerant({ command: "createRole", rolename, acls }, ["Role already exists"]);
  }

  async getRole(rolename: string): Promise<{ rolename: string; acls: DynsecAcl[] } | undefined> {
    const [r] = await this.run([{ command: "getRole", rolename }]);
    if (r.error === "Role not found") return undefined;
    if (r.error) throw new DynsecError(r.command, r.error);
    return r.data.role;
  }

  async addRoleACL(rolename: string, acl: DynsecAcl): Promise<void> {
    await this.one({ command: "addRoleACL", rolename, ...acl });
  }

  async removeRoleACL(rolename: string, acltype: AclType, topic: string): Promise<void> {
    await this.one({ command: "removeRoleACL", rolename, acltype, topic });
  }

  /** false if the role did not exist. */
  deleteRole(rolename: string): Promise<boolean> {
    return this.tolerant({ command: "deleteRole", rolename }, ["Role not found"]);
  }

  /** false if the client existed already (nothing was changed then). */
  createClient(c: {
    username: string;
    password: string;
    clientid?: string;
    roles?: string[];
  }): Promise<boolean> {
    return this.tolerant(
      {
        command: "createClient",
        username: c.username,
        password: c.password,
        ...(c.clientid ? { clientid: c.clientid } : {}),
        roles: (c.roles ?? []).map((rolename) => ({ rolename })),
      },
      ["Client already exists"],
    );
  }

  async getClient(username: string): Promise<DynsecClientInfo | undefined> {
    const [r] = await this.run([{ command: "getClient", username }]);
    if (r.error === "Client not found") return undefined;
    if (r.error) throw new DynsecError(r.command, r.error);
    return r.data.client;
  }

  async setClientPassword(username: string, password: string): Promise<void> {
    await this.one({ command: "setClientPassword", username, password });
  }

  async setClientId(username: string, clientid: string): Promise<void> {
    await this.one({ command: "setClientId", username, clientid });
  }

  async addClientRole(username: string, rolename: string, priority?: number): Promise<void> {
    await this.one({
      command: "addClientRole",
      username,
      rolename,
      ...(priority !== undefined ? { priority } : {}),
    });
  }

  async enableClient(username: string): Promise<void> {
    await this.one({ command: "enableClient", username });
  }

  /** Refuses new connections and closes the client's current one (no will is sent). */
  async disableClient(username: string): Promise<void> {
    await this.one({ command: "disableClient", username });
  }

  /** Close the client's connection now but keep it allowed (it may reconnect). */
  async kickClient(username: string): Promise<void> {
    const rs = await this.run([
      { command: "disableClient", username },
      { command: "enableClient", username },
    ]);
    const bad = rs.find((r) => r.error);
    if (bad) throw new DynsecError(bad.command, bad.error!);
  }

  /** false if the client did not exist; deleting a client closes its connection. */
  deleteClient(username: string): Promise<boolean> {
    return this.tolerant({ command: "deleteClient", username }, ["Client not found"]);
  }

  async listClients(): Promise<DynsecClientInfo[]> {
    const d = await this.one({ command: "listClients", verbose: true, count: -1 });
    return d.clients as DynsecClientInfo[];
  }

  async listRoles(): Promise<string[]> {
    const d = await this.one({ command: "listRoles", verbose: false, count: -1 });
    return d.roles as string[];
  }

  async close(): Promise<void> {
    this.closed = true;
    await new Promise<void>((r) => this.mqtt.end(false, {}, () => r()));
  }
}
