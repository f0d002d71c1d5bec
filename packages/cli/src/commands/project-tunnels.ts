/**
 * tether projects tunnels [--record | --no-record] [--forward-allow DEST,...]: the project's
 * tunnel settings (docs/protocol.md §17.5, §17.7): whether shells are recorded, and where port
 * forwarding may go. No option: show them; changing them needs admin.
 */
import { DEFAULT_FORWARD_ALLOW, DESTINATION_PATTERN, sessionsApi, type TunnelSettings } from "@tether/sdk";
import type { Command } from "commander";
import { type Ctx, client, printJson } from "../context.js";
import { CliError, EXIT } from "../io.js";

const DEST_RE = new RegExp(DESTINATION_PATTERN);
const MAX_DESTINATIONS = 256;

const HELP = `
Examples:
  tether projects tunnels                                   show them
  tether projects tunnels --record                          record every shell (asciicast v2)
  tether projects tunnels --forward-allow 'localhost:*,10.0.0.5:80,[::1]:8000-8100'
  tether projects tunnels --forward-allow default           back to the device's loopback
  tether projects tunnels --forward-allow none              no port forwarding at all

A destination is HOST:PORT, HOST:LOW-HIGH or HOST:*; HOST is a name, an IPv4 address or
[IPv6], compared as written (no DNS). --forward-allow replaces the whole list.`;

/** `--forward-allow`: comma-separated destinations, `default`, or `none`/"" (empty list). */
export function parseForwardAllow(s: string): string[] {
  const t = s.trim();
  if (t === "default") return [...DEFAULT_FORWARD_ALLOW];
  if (t === "" || t === "none") return [];
  const list = t
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
  for (const d of list)
    if (!DEST_RE.test(d))
      throw new CliError(
        `bad destination ${JSON.stringify(d)}: use HOST:PORT, HOST:LOW-HIGH or HOST:* ([IPv6] in brackets)`,
        EXIT.usage,
      );
  if (list.length > MAX_DESTINATIONS)
    throw new CliError(`at most ${MAX_DESTINATIONS} destinations (got ${list.length})`, EXIT.usage);
  return [...new Set(list)];
}

export function settingsText(s: TunnelSettings): string {
  const rec = s.record ? "on: shells are recorded (tether sessions export ID)" : "off";
  const fwd = s.forwardAllow.length ? s.forwardAllow.join(", ") : "nowhere (port forwarding is off)";
  return `recording:       ${rec}\nforwarding to:   ${fwd}\n`;
}

export function registerProjectTunnels(projects: Command, ctx: Ctx): void {
  projects
    .command("tunnels")
    .description("the project's tunnel settings: session recording and the port-forward allow-list")
    .option("--record", "record shell sessions (admin)")
    .option("--no-record", "stop recording (admin)")
    .option("--forward-allow <dests>", "where port forwards may go: DEST,DEST… | default | none (admin)")
    .option("--json", 'print {"record":…,"forwardAllow":[…]}')
    .addHelpText("after", HELP)
    .action(async (o: { record?: boolean; forwardAllow?: string; json?: boolean }, cmd: Command) => {
      const patch: Partial<TunnelSettings> = {};
      if (o.record !== undefined) patch.record = o.record;
      if (o.forwardAllow !== undefined) patch.forwardAllow = parseForwardAllow(o.forwardAllow);
      const api = sessionsApi(client(ctx, cmd));
      const s = Object.keys(patch).length ? await api.setSettings(patch) : await api.settings();
      if (o.json) return printJson(ctx, s);
      ctx.io.stdout(settingsText(s));
    });
}
