/**
 * Small reads and writes of the HTTPS API that many end-to-end tests need: commands and their
 * runs (docs/protocol.md §13), and a user's API token made the way the console makes one.
 */
import assert from "node:assert/strict";
import { makeApi, type ServerHandle, waitFor } from "../e2e/harness.js";

export interface Run {
  device: string;
  status: string;
  exitCode: number | null;
  error: string | null;
  stdout?: string;
  stdoutEncoding?: string;
  stdoutBytes: number;
  stdoutTruncated: boolean;
  [k: string]: unknown;
}

export interface Command {
  id: string;
  state: string;
  argv: string[];
  finishedAt: string | null;
  runs?: Run[];
  [k: string]: unknown;
}

/** POST /api/v1/commands. */
export function createCommand(server: ServerHandle, body: Record<string, unknown>): Promise<Command> {
  return server.api.call<Command>("POST", "/api/v1/commands", body);
}

/** One command with its runs and their output. */
export function showCommand(server: ServerHandle, id: string): Promise<Command> {
  return server.api.call<Command>("GET", `/api/v1/commands/${id}?output=true`);
}

/** Wait until a command has finished (every run in a final state); returns it with output. */
export function finishedCommand(server: ServerHandle, id: string, timeoutMs = 60_000): Promise<Command> {
  return waitFor(
    async () => {
      const c = await showCommand(server, id);
      return c.finishedAt ? c : undefined;
    },
    `command ${id} finished`,
    timeoutMs,
  );
}

/** The command history (newest first). */
export async function commandsOf(server: ServerHandle): Promise<any[]> {
  return server.api.call<any[]>("GET", "/api/v1/commands?limit=1000");
}

/** One run of a command: the device's, or the first. */
export async function runOf(server: ServerHandle, id: string, device?: string): Promise<any> {
  const c = await server.api.call<any>("GET", `/api/v1/commands/${id}`);
  return device ? c.runs.find((r: any) => r.device === device) : c.runs[0];
}

/** The newest command whose argv mentions `needle` (the id of an attached `tether exec`). */
export async function commandMentioning(server: ServerHandle, needle: string): Promise<any> {
  return waitFor(
    async () => (await commandsOf(server)).find((c) => c.argv.join(" ").includes(needle)),
    `a command mentioning ${needle}`,
  );
}

/** Signs in with a password (as the console does): the session cookie ("tether_session=...") and who. */
export async function sessionCookie(
  url: string,
  ca: string,
  username: string,
  password: string,
): Promise<{ cookie: string; me: any }> {
  const origin = new URL(url).origin;
  const r = await makeApi(url, ca).request("POST", "/api/v1/auth/login", { username, password }, { origin });
  assert.equal(r.status, 200, `login ${username}: ${JSON.stringify(r.body)}`);
  const cookie = ([] as string[])
    .concat(r.headers["set-cookie"] ?? [])
    .find((c) => c.startsWith("tether_session="))
    ?.split(";")[0];
  assert.ok(cookie, "session cookie");
  return { cookie, me: r.body };
}

/** A user with `role` signs in (as the console does) and makes an API token. */
export async function userToken(server: ServerHandle, username: string, role: string): Promise<string> {
  const password = `${username}-password-1`;
  await server.api.call("POST", "/api/v1/users", { username, role, password });
  const origin = new URL(server.info.url).origin;
  const { cookie, me } = await sessionCookie(server.info.url, server.ca, username, password);
  assert.equal(me.role, role);
  const anon = makeApi(server.info.url, server.ca);
  const t = await anon.request("POST", "/api/v1/api-tokens", { name: `${username}-cli` }, { cookie, origin });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  return t.body.token;
}
