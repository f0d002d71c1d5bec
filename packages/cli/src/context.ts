/** Shared plumbing for commands: the client, output helpers. */
import { TetherClient } from "@tether/sdk";
import type { Command } from "commander";
import { requireCredentials } from "./credentials.js";
import type { Io } from "./io.js";
import { type Cell, table } from "./table.js";
import { cliTransport } from "./transport.js";

export interface Ctx {
  io: Io;
}

/** Global options (--project) merged with the command's own. */
export function opts<T = Record<string, any>>(cmd: Command): T {
  return cmd.optsWithGlobals() as T;
}

/** A client for the command's credentials and project; `signal` ends its requests (e.g. Ctrl-C). */
export function client(ctx: Ctx, cmd: Command, o: { signal?: AbortSignal } = {}): TetherClient {
  const c = requireCredentials(ctx.io);
  const project: string | undefined =
    opts<{ project?: string }>(cmd).project || ctx.io.env.TETHER_PROJECT || undefined;
  return new TetherClient({
    url: c.url,
    token: c.token,
    project,
    transport: cliTransport(c.caCert),
    ...(o.signal ? { signal: o.signal } : {}),
  });
}

export function printJson(ctx: Ctx, v: unknown): void {
  ctx.io.stdout(`${JSON.stringify(v, null, 2)}\n`);
}

/** A listing: JSON array with --json, else a table (or a note when empty). */
export function printList<T>(
  ctx: Ctx,
  json: boolean | undefined,
  items: T[],
  headers: string[],
  row: (t: T) => Cell[],
  empty: string,
): void {
  if (json) {
    printJson(ctx, items);
    return;
  }
  if (items.length === 0) {
    ctx.io.stderr(`${empty}\n`);
    return;
  }
  ctx.io.stdout(table(headers, items.map(row)));
}
