/**
 * The SSH gateway (docs/protocol.md §17.6): OpenSSH clients reach devices as DEVICE@server
 * (or DEVICE.PROJECT@server) with keys registered by `tether ssh-keys`; shells, commands,
 * sftp/scp and `ssh -L` run as tunnel sessions. Off unless `tether server --ssh-listen`.
 */
import type { CapabilityModule } from "../../capability.js";
import { DEFAULT_LISTENER_LIMITS } from "../../config.js";
import { fitToFdLimit } from "../../net/preauth.js";
import { SshGateway } from "./gateway.js";
import { loadOrCreateHostKey } from "./host-key.js";
import { SshKeys } from "./key-store.js";
import { sshMigrations } from "./migrations.js";
import { sshRoutes } from "./routes.js";
import { ROLE_RANK } from "@tether/protocol";

export interface SshApi {
  keys: SshKeys;
  /** The running gateway (tests), or null when not listening. */
  gateway(): SshGateway | null;
}

export const ssh: CapabilityModule<never, SshApi> = {
  name: "ssh",
  migrations: sshMigrations,
  create(ctx) {
    const log = ctx.log.child({ part: "ssh" });
    const keys = new SshKeys(ctx.db, ctx.audit);
    let gateway: SshGateway | null = null;
    const endWhere = async (pick: Parameters<SshGateway["endWhere"]>[0], message: string) =>
      (await gateway?.endWhere(pick, message)) ?? 0;

    return {
      name: "ssh",
      api: { keys, gateway: () => gateway },
      up: {},
      routes: (app) =>
        sshRoutes(app, {
          keys,
          removed: async (row) => {
            await endWhere((c) => c.user?.keyId === row.id, "the SSH key of this connection was removed");
          },
        }),
      async listen() {
        const at = ctx.config.ssh?.listen;
        if (!at) return undefined;
        const hostKey = loadOrCreateHostKey(ctx.dataDir);
        const l = { ...DEFAULT_LISTENER_LIMITS, ...definedOnly(ctx.config.listeners ?? {}) };
        // The server already warned about a low open-file limit; fit quietly here.
        const preauth = fitToFdLimit(
          { max: l.maxPreauth, perAddress: l.maxPreauthPerAddress, timeoutMs: l.preauthTimeoutMs },
          3,
          log.child({}, { level: "silent" }),
        );
        gateway = new SshGateway({
          keys,
          accounts: ctx.accounts,
          devices: ctx.devices,
          tunnels: ctx.tunnels,
          hostKey,
          preauth,
          log,
        });
        const sshPort = await gateway.listen(at.host, at.port);
        log.info(
          { port: sshPort, fingerprint: hostKey.fingerprint },
          `SSH gateway listening on port ${sshPort}`,
        );
        return { sshPort, sshFingerprint: hostKey.fingerprint };
      },
      async userChanged(change) {
        if (change.kind === "token-revoked") return; // SSH keys are not API tokens
        const affected = gateway
          ?.connections()
          .filter(
            (c) =>
              c.user?.userId === change.userId &&
              (change.projectId === undefined || c.target?.projectId === change.projectId),
          );
        for (const c of affected ?? []) {
          const role =
            change.kind === "access-revoked"
              ? null
              : await ctx.accounts.roleIn(change.userId, c.target!.projectId);
          if (role && ROLE_RANK[role] >= ROLE_RANK.operator) continue;
          await c.end(
            change.kind === "access-revoked"
              ? "your access was revoked"
              : `you no longer have access to project ${c.target!.project}`,
          );
        }
      },
      revokeDevice: {
        step: "ssh: close SSH connections to the device",
        run: async (d) => {
          await endWhere((c) => c.target?.deviceId === d.id, `device ${d.name} was revoked`);
        },
      },
      async close() {
        await gateway?.close();
        gateway = null;
      },
    };
  },
};

const definedOnly = <T extends object>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
