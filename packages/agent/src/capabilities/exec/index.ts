/**
 * Remote command execution (docs/protocol.md §13): `exec.start` and `exec.cancel` (durable),
 * `exec.ack` (the server's credit). The work is ExecManager's; its records are the
 * `exec` journal slice.
 */
import type { CapabilityModule } from "../../capability.js";
import { execJournal } from "./exec-journal.js";
import { ExecManager, type ExecOptions } from "./exec-manager.js";

export type { ExecOptions } from "./exec-manager.js";

export const exec: CapabilityModule<
  "exec",
  "exec.start" | "exec.cancel" | "exec.ack",
  ExecManager,
  ExecOptions
> = {
  name: "exec",
  journal: execJournal,
  create: ({ link, journal, log }, options) =>
    new ExecManager(link, journal, log.child({ part: "exec" }), options),
  handlers: {
    "exec.start": (m, body) => m.start(body),
    "exec.cancel": (m, body) => m.cancel(body),
    "exec.ack"(m, body) {
      m.onAck(body);
      return undefined;
    },
  },
  /** Commands that were running when the agent died are reported lost, never run again. */
  start: (m) => m.recoverLost(),
  onConnected: (m) => m.onReady(),
  onStopping: (m) => m.stop(),
};
