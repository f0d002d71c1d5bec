/**
 * Assembles the tunnel layer (docs/protocol.md §17): opens sessions (checks, `tunnel.open` over
 * the control channel, the agent's dial-back), keeps the live ones, ends them on revocation,
 * user changes and shutdown, and writes the history (./session-store.ts), the audit log and
 * recordings (./recorder.ts).
 */
import {
  clampSize,
  type SessionKind,
  TetherError,
  TUNNEL_LIMITS,
  type TunnelSettings,
} from "@tether/protocol";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import { type Accounts, hasRole, type Principal, requireRole } from "../accounts.js";
import type { Audit } from "../audit.js";
import type { ControlLink } from "../control/link.js";
import type { DeviceRow, Devices } from "../devices.js";
import type { Dialect } from "../store/db.js";
import type { DB } from "../store/schema.js";
import { agentEndpoint } from "./agent-endpoint.js";
import { checkDestination, checkDevice, checkLimits, checkRunAs, validateAllowList } from "./open-checks.js";
import { openRecording, pruneRecordings, startRecording } from "./recorder.js";
import { Session } from "./session.js";
import { sessionId } from "./session-id.js";
import { SessionStore } from "./session-store.js";
import { TunnelTokens } from "./tokens.js";
import {
  DEFAULT_TUNNEL_LIMITS,
  type OpenRequest,
  type SessionEnd,
  type TunnelLayer,
  type TunnelLimits,
  type TunnelSession,
  type UserChange,
} from "./types.js";

export { tunnelMigrations } from "./migrations.js";

export interface TunnelLayerDeps {
  db: Kysely<DB>;
  dialect: Dialect;
  devices: Devices;
  accounts: Accounts;
  audit: Audit;
  link: ControlLink;
  log: Logger;
  /** Recordings go to <dataDir>/recordings/. */
  dataDir: string;
  limits?: Partial<TunnelLimits>;
  /** The project's run-as list (the exec capability's `exec-users`): the same policy as exec --user. */
  execUsers(projectId: number): Promise<string[]>;
  /** The clock (tests): ms since the epoch. */
  clock?: () => number;
}

const MAX_TARGET = 1024;

function describe(spec: OpenRequest["spec"]): { kind: SessionKind; target: string; runAs: string | null } {
  if (spec.kind === "tcp") {
    const h = spec.host.includes(":") && !spec.host.startsWith("[") ? `[${spec.host}]` : spec.host;
    return { kind: "forward", target: `${h}:${spec.port}`, runAs: null };
  }
  const s = spec.shell;
  const runAs = s.user ?? null;
  if (s.argv) return { kind: "command", target: s.argv.join(" ").slice(0, MAX_TARGET), runAs };
  if (s.command !== undefined) return { kind: "command", target: s.command.slice(0, MAX_TARGET), runAs };
  return { kind: "shell", target: "login shell", runAs };
}

export function createTunnelLayer(deps: TunnelLayerDeps): TunnelLayer {
  const limits: TunnelLimits = { ...DEFAULT_TUNNEL_LIMITS, ...deps.limits };
  const clock = deps.clock ?? Date.now;
  const log = deps.log;
  const store = new SessionStore(deps.db, deps.dialect);
  const tokens = new TunnelTokens(clock);
  /** Sessions waiting for their dial-back or live; an ended one leaves at once. */
  const sessions = new Map<string, Session>();
  /** History writes still running (close() waits for them). */
  const writes = new Set<Promise<unknown>>();
  let opened = 0;
  let refusedTokens = 0;

  const track = (p: Promise<unknown>) => {
    const q = p.catch((err) => log.error({ err }, "tunnels: writing the session history failed"));
    writes.add(q);
    void q.finally(() => writes.delete(q));
  };

  // Sessions a killed server left open end as server-stopped; everything else waits for this.
  let orphansDone: Promise<void> | undefined;
  const ready = () =>
    (orphansDone ??= store
      .endOrphans(new Date(clock()))
      .then((n) => {
        if (n) log.info({ sessions: n }, "sessions left open by the previous run ended as server-stopped");
      })
      .catch((err) => log.error({ err }, "tunnels: ending sessions of the previous run failed")));

  void ready(); // at start; every reader of the history awaits it too

  const endpoint = agentEndpoint({
    tokens,
    waiting: (id) => {
      const s = sessions.get(id);
      return s?.waiting ? s : undefined;
    },
    refused: () => refusedTokens++,
    log,
  });

  const isLive = (id: string) => sessions.get(id)?.live === true;

  function ended(s: Session, e: SessionEnd): void {
    sessions.delete(s.id);
    tokens.revoke(s.id);
    if (!s.live) return; // a failed open: open() writes its history
    const endedAt = new Date(clock());
    const durationMs = Math.max(0, endedAt.getTime() - s.startedAt.getTime());
    log.info(
      {
        session: s.id,
        device: s.device.id,
        user: s.owner.username,
        reason: e.reason,
        exitCode: e.exitCode,
        bytesIn: s.bytesIn,
        bytesOut: s.bytesOut,
        durationMs,
      },
      "session ended",
    );
    track(
      (async () => {
        await store.end(s.id, {
          endedAt,
          endReason: e.reason,
          exitCode: e.exitCode,
          bytesIn: s.bytesIn,
          bytesOut: s.bytesOut,
        });
        await deps.audit.write({
          actor: s.owner.username,
          action: "session.end",
          projectId: s.projectId,
          deviceId: s.device.id,
          detail: {
            name: s.device.name,
            session: s.id,
            kind: s.kind,
            via: s.via,
            durationMs,
            endReason: e.reason,
            exitCode: e.exitCode,
            ...(e.signal ? { signal: e.signal } : {}),
          },
        });
        if (s.recorded) {
          await s.closeRecording();
          await pruneRecordings(deps.dataDir, s.projectId, limits.recordingsPerProjectBytes);
        }
      })(),
    );
  }

  async function open(req: OpenRequest): Promise<TunnelSession> {
    const { principal: p, device: d, spec } = req;
    checkDevice(p, d, (id) => deps.link.isConnected(id));
    if (spec.kind === "shell") {
      if (spec.shell.argv && spec.shell.command !== undefined)
        throw new TetherError("TETHER_ERR_BAD_REQUEST", "give argv or command, not both");
      if (spec.shell.user !== undefined) checkRunAs(p, spec.shell.user, await deps.execUsers(p.projectId));
    }
    await ready();
    const settings = await store.settings(p.projectId);
    if (spec.kind === "tcp") checkDestination(settings.forwardAllow, spec.host, spec.port);
    // Count and reserve with no await in between, so two opens cannot both take the last slot.
    let device = 0;
    let user = 0;
    for (const s of sessions.values()) {
      if (s.device.id === d.id) device++;
      if (s.owner.userId === p.userId) user++;
    }
    checkLimits(limits, d, p, { device, user });

    const { kind, target, runAs } = describe(spec);
    const shell = spec.kind === "shell" ? spec.shell : undefined;
    const pty = shell?.pty
      ? {
          cols: clampSize(shell.pty.cols, TUNNEL_LIMITS.maxCols),
          rows: clampSize(shell.pty.rows, TUNNEL_LIMITS.maxRows),
          term: shell.pty.term ?? "xterm-256color",
        }
      : null;
    const recorded = settings.record && pty !== null;
    const id = sessionId();
    const startedAt = new Date(clock());
    const s: Session = new Session({
      id,
      projectId: p.projectId,
      device: { id: d.id, name: d.name },
      owner: { userId: p.userId, username: p.username },
      ownerAuth: p.via,
      kind,
      tunnelKind: spec.kind,
      via: req.via,
      recorded,
      startedAt,
      pty: pty ? { cols: pty.cols, rows: pty.rows } : null,
      idleMs: limits.idleMs,
      maxMs: limits.maxMs,
      clock,
      log,
      checkDestination: async (host, port) =>
        checkDestination((await store.settings(p.projectId)).forwardAllow, host, port),
      startRecorder: recorded
        ? () =>
            startRecording({
              dataDir: deps.dataDir,
              projectId: p.projectId,
              sessionId: id,
              cols: pty!.cols,
              rows: pty!.rows,
              term: pty!.term,
              maxBytes: limits.recordingMaxBytes,
              log,
              clock,
            })
        : undefined,
    });
    sessions.set(id, s);
    s.once("end", (e: SessionEnd) => ended(s, e));
    const token = tokens.issue(id, d.id);
    try {
      await store.insert({
        id,
        projectId: p.projectId,
        deviceId: d.id,
        deviceName: d.name,
        userId: p.userId,
        username: p.username,
        kind,
        via: req.via,
        target,
        runAs,
        recorded,
        startedAt,
      });
      const started = s.started(limits.dialTimeoutMs);
      started.catch(() => {});
      await deps.link.send(d, "tunnel.open", {
        sid: id,
        token,
        kind: spec.kind,
        ...(shell
          ? {
              shell: {
                pty,
                ...(shell.user !== undefined ? { user: shell.user } : {}),
                ...(shell.argv ? { argv: shell.argv } : {}),
                ...(shell.command !== undefined ? { command: shell.command } : {}),
              },
            }
          : { tcp: { allow: settings.forwardAllow } }),
      });
      await started;
      // Ended between the answer and now (revoked, device gone): the caller gets why.
      if (s.ended) throw new TetherError("TETHER_ERR_TUNNEL_CLOSED", s.ended.message);
    } catch (err) {
      s.close("failed", (err as Error).message);
      sessions.delete(id);
      tokens.revoke(id);
      const endReason =
        s.ended?.reason === "revoked" || s.ended?.reason === "server-stopped" ? s.ended.reason : "failed";
      await store
        .end(id, {
          endedAt: new Date(clock()),
          endReason,
          exitCode: null,
          bytesIn: s.bytesIn,
          bytesOut: s.bytesOut,
        })
        .catch((e) => log.error({ err: e }, "tunnels: recording a failed open failed"));
      await s.closeRecording().catch(() => {});
      log.info(
        { session: id, device: d.id, user: p.username, err: (err as Error).message },
        "session could not open",
      );
      throw err;
    }
    s.goLive();
    opened++;
    log.info({ session: id, device: d.id, user: p.username, kind, via: req.via, target }, "session opened");
    track(
      deps.audit.write({
        actor: p.username,
        action: "session.start",
        projectId: p.projectId,
        deviceId: d.id,
        detail: { name: d.name, session: id, kind, via: req.via, target, runAs, recorded },
      }),
    );
    return s;
  }

  function closeWhere(pred: (s: Session) => boolean, reason: "revoked" | "server-stopped", message: string) {
    for (const s of [...sessions.values()]) if (pred(s)) s.close(reason, message);
  }

  return {
    open,
    live(projectId, id) {
      const s = sessions.get(id);
      return s && s.live && s.projectId === projectId ? s : undefined;
    },
    async list(projectId, q) {
      await ready();
      return store.list(projectId, q, isLive);
    },
    async get(projectId, id) {
      await ready();
      return store.get(projectId, id, isLive);
    },
    async recording(projectId, id) {
      await ready();
      const v = await store.get(projectId, id, isLive);
      if (!v?.recorded) return undefined;
      return openRecording(deps.dataDir, projectId, id);
    },
    settings: {
      async get(projectId) {
        return store.settings(projectId);
      },
      async set(p: Principal, patch: Partial<TunnelSettings>) {
        requireRole(p, "admin");
        const cur = await store.settings(p.projectId);
        if (patch.record !== undefined && typeof patch.record !== "boolean")
          throw new TetherError("TETHER_ERR_BAD_REQUEST", "record must be true or false");
        const next: TunnelSettings = {
          record: patch.record ?? cur.record,
          forwardAllow:
            patch.forwardAllow !== undefined ? validateAllowList(patch.forwardAllow) : cur.forwardAllow,
        };
        await store.setSettings(p.projectId, next);
        await deps.audit.write({
          actor: p.username,
          action: "project.tunnels",
          projectId: p.projectId,
          detail: { record: next.record, forwardAllow: next.forwardAllow },
        });
        return next;
      },
    },
    websocket: endpoint.handler,
    async revokeDevice(d: DeviceRow) {
      closeWhere((s) => s.device.id === d.id, "revoked", `device ${d.name} was revoked`);
    },
    async userChanged(change: UserChange) {
      const mine = [...sessions.values()].filter(
        (s) =>
          s.owner.userId === change.userId &&
          (change.projectId === undefined || s.projectId === change.projectId),
      );
      for (const s of mine) {
        let lost = change.kind === "removed" || change.kind === "access-revoked";
        // The token that opened it may be the revoked one: a session opened with a token ends.
        if (change.kind === "token-revoked") lost = s.ownerAuth === "token";
        if (change.kind === "role-changed") {
          const role = await deps.accounts.roleIn(s.owner.userId, s.projectId);
          lost = !role || !hasRole({ role } as Principal, "operator");
        }
        if (lost) s.close("revoked", `${s.owner.username} no longer has access to this session`);
      }
    },
    async close() {
      closeWhere(() => true, "server-stopped", "the server is stopping");
      endpoint.close();
      await orphansDone;
      while (writes.size) await Promise.all([...writes]);
    },
    stats: () => ({ live: [...sessions.values()].filter((s) => s.live).length, opened, refusedTokens }),
  };
}
