/**
 * Remote command execution, server side (docs/protocol.md §13): a command is one row plus one
 * run per device; the scheduler starts runs through the durable outbox, the inbound handlers
 * take the agent's reports, the API and routes serve users, events stream it all live.
 */
import { join } from "node:path";
import type { CapabilityModule } from "../../capability.js";
import { DEFAULT_OUTPUT_PAGING, ExecApi } from "./api.js";
import { ExecEvents } from "./events.js";
import { ExecInbound } from "./inbound.js";
import { execMigrations } from "./migrations.js";
import { execRoutes } from "./routes.js";
import { RunState } from "./run-state.js";
import { ExecScheduler } from "./scheduler.js";
import { Spool } from "./spool.js";
import { ExecStore } from "./store.js";

export type { ExecApi } from "./api.js";

/** Command event streams one user may have open at once (`tether server --max-event-streams`). */
export const DEFAULT_MAX_STREAMS_PER_USER = 16;
export type { ExecEvents, LiveEvent } from "./events.js";

export interface ExecHandle {
  api: ExecApi;
  events: ExecEvents;
  spool: Spool;
  /** Expire undelivered starts and report lost runs now (tests; normally on a timer). */
  sweep(): Promise<void>;
  /** Start what the concurrency allows for one command now (tests; normally on every change). */
  pump(id: string): Promise<void>;
}

export const exec: CapabilityModule<"exec.started" | "exec.output" | "exec.result", ExecHandle> = {
  name: "exec",
  migrations: execMigrations,
  create(ctx) {
    const o = ctx.config.exec ?? {};
    const store = new ExecStore(ctx.db);
    const spool = new Spool(join(ctx.dataDir, "spool"));
    const events = new ExecEvents();
    const state = new RunState(store);
    const log = ctx.log.child({ part: "exec" });
    let api: ExecApi;
    const scheduler = new ExecScheduler(
      store,
      ctx.devices,
      ctx.link,
      events,
      spool,
      state,
      log,
      {
        sweepMs: o.sweepMs ?? 1000,
        deliverMs: o.deliverMs ?? 30_000,
        lostGraceMs: o.lostGraceMs ?? 10 * 60_000,
      },
      (p, id) => api.get(p, id),
    );
    api = new ExecApi(store, ctx.devices, ctx.link, ctx.audit, spool, scheduler, log, {
      pageBytes: o.outputPageBytes ?? DEFAULT_OUTPUT_PAGING.pageBytes,
      responseBytes: o.outputResponseBytes ?? DEFAULT_OUTPUT_PAGING.responseBytes,
    });
    const maxStreamsPerUser = o.maxStreamsPerUser ?? DEFAULT_MAX_STREAMS_PER_USER;
    const inbound = new ExecInbound(store, ctx.link, events, spool, state, scheduler);
    return {
      name: "exec",
      api: { api, events, spool, sweep: () => scheduler.sweep(), pump: (id) => scheduler.pump(id) },
      up: {
        "exec.started": (c, b) => inbound.started(c, b),
        "exec.output": (c, b) => inbound.output(c, b),
        "exec.result": (c, b) => inbound.result(c, b),
      },
      delivered: { "exec.start": (device, body) => inbound.delivered(device, body) },
      routes: (app) => execRoutes(app, { exec: api, events, spool, maxStreamsPerUser }),
      revokeDevice: {
        step: "exec: cancel queued commands, give up on running ones",
        run: (d) => api.revoke(d),
      },
      userChanged: (change) => void events.closeStreamsOf(change.userId, change.projectId),
      start: () => scheduler.start(),
      async close() {
        await scheduler.close();
        await spool.closeAll();
      },
    };
  },
};
