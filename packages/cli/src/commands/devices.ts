/** tether devices list|show|accept|reject|revoke|delete|label|rename */
import { DEVICE_NAME_RULE, isDeviceName } from "@tether/protocol/names";
import { presenceStatus, presenceText } from "@tether/sdk";
import type { Command } from "commander";
import { parseLabels, parseSelectorArg } from "../args.js";
import { type Ctx, client, printJson, printList } from "../context.js";
import { CliError, EXIT } from "../io.js";
import { escapeControl } from "../escape.js";
import { cell, details, formatLabels, table } from "../table.js";

export function registerDevices(program: Command, ctx: Ctx): void {
  const devices = program
    .command("devices")
    .alias("device")
    .description("list, inspect, accept, label and remove devices (DEVICE = id or unique name)");

  devices
    .command("list")
    .alias("ls")
    .description("list devices")
    .option("-s, --selector <selector>", "only devices matching labels/facts, e.g. site=lab,fact.arch=arm64")
    .option("--json", "print the API objects as a JSON array")
    .action(async (o: { selector?: string; json?: boolean }, cmd: Command) => {
      if (o.selector !== undefined) parseSelectorArg(o.selector);
      const list = await client(ctx, cmd).listDevices(o.selector);
      const now = Date.now();
      // Status and "last seen" come from the SDK's presence helpers, as in the console.
      printList(
        ctx,
        o.json,
        list,
        ["id", "name", "status", "labels", "last seen"],
        (d) => [d.id, d.name, presenceStatus(d), formatLabels(d.labels), presenceText(d, now)],
        o.selector ? "no devices match" : "no devices yet (create a token with: tether token create)",
      );
    });

  devices
    .command("show")
    .description("show a device: state, fingerprint, facts, recent connections")
    .argument("<device>", "device id or unique name")
    .option("--json", "print {device, connections} as JSON")
    .action(async (ref: string, o: { json?: boolean }, cmd: Command) => {
      const c = client(ctx, cmd);
      const d = await c.getDevice(ref);
      const conns = await c.deviceConnections(d.id);
      if (o.json) return printJson(ctx, { ...d, connections: conns });
      const f = d.facts;
      let out = details([
        ["id", d.id],
        ["name", d.name],
        ["project", d.project],
        ["state", d.state],
        ["status", presenceStatus(d)],
        ["last seen", presenceText(d)],
        ...(d.onlineSince ? ([["online since", d.onlineSince]] as [string, string][]) : []),
        ...(d.lastSeenAt ? ([["last seen at", d.lastSeenAt]] as [string, string][]) : []),
        ["created", d.createdAt],
        ["fingerprint", d.fingerprint],
        ["hostname", d.hostname],
        ["source address", d.sourceAddress],
        ["labels", formatLabels(d.labels)],
        ["shard", d.shard],
        ...(d.rateLimited
          ? ([
              ["rate-limited", `${d.rateLimited} messages dropped (over the control message rate limit)`],
            ] as [string, string][])
          : []),
      ]);
      if (f) {
        out += "\nfacts:\n";
        out += details([
          ["  os", `${f.os} ${f.osRelease}`],
          ["  kernel", f.kernel],
          ["  arch", f.arch],
          ["  hostname", f.hostname],
          ["  addresses", f.addresses.join(", ")],
          ["  cpus", f.cpus],
          ["  memory", f.memoryBytes ? `${Math.round(f.memoryBytes / 1048576)} MiB` : undefined],
          ["  agent", f.agentVersion],
        ]);
      }
      out += "\nrecent connections:\n";
      out += conns.length
        ? table(
            ["connected", "disconnected", "reason"],
            conns
              .slice(0, 10)
              .map((x) => [x.connectedAt, x.disconnectedAt ?? (d.online ? "(connected)" : ""), x.reason]),
          )
        : "  none\n";
      ctx.io.stdout(out);
    });

  const simple = [
    [
      "accept",
      "accept a pending device (it gets broker credentials and connects)",
      "acceptDevice",
      "accepted",
    ],
    ["reject", "reject a pending device", "rejectDevice", "rejected"],
    ["revoke", "revoke a device: disconnect it now and refuse it from then on", "revokeDevice", "revoked"],
  ] as const;
  for (const [name, desc, method, done] of simple) {
    devices
      .command(name)
      .description(desc)
      .argument("<device>", "device id or unique name")
      .option("--json", "print the device as JSON")
      .action(async (ref: string, o: { json?: boolean }, cmd: Command) => {
        const d = await client(ctx, cmd)[method](ref);
        if (o.json) return printJson(ctx, d);
        ctx.io.stdout(`${escapeControl(d.name)} (${d.id}) ${done}\n`);
      });
  }

  devices
    .command("delete")
    .alias("rm")
    .description("delete a device (revokes it first if accepted)")
    .argument("<device>", "device id or unique name")
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      await client(ctx, cmd).deleteDevice(ref);
      ctx.io.stdout(`${escapeControl(ref)} deleted\n`);
    });

  devices
    .command("label")
    .description("set labels (k=v) or remove them (k-)")
    .argument("<device>", "device id or unique name")
    .argument("<labels...>", "k=v to set, k- to remove")
    .option("--json", "print the device as JSON")
    .action(async (ref: string, labels: string[], o: { json?: boolean }, cmd: Command) => {
      const d = await client(ctx, cmd).updateDevice(ref, { labels: parseLabels(labels) });
      if (o.json) return printJson(ctx, d);
      ctx.io.stdout(
        `${escapeControl(d.name)}: ${cell(formatLabels(d.labels)) === "-" ? "(no labels)" : cell(formatLabels(d.labels))}\n`,
      );
    });

  devices
    .command("rotate-credential")
    .description(
      "give the device a new broker secret and telemetry token over the control channel (the old ones are refused once the agent has stored the new)",
    )
    .argument("<device>", "device id or unique name")
    .option("--json", "print the result as JSON")
    .action(async (ref: string, o: { json?: boolean }, cmd: Command) => {
      const r = await client(ctx, cmd).rotateCredential(ref);
      if (o.json) return printJson(ctx, r);
      ctx.io.stdout(
        r.queued
          ? `${escapeControl(r.device)}: new broker secret and telemetry token queued; they take effect when the device is back online\n`
          : `${escapeControl(r.device)}: new broker secret and telemetry token sent; they take effect once the agent has stored them\n`,
      );
    });

  devices
    .command("rename")
    .description("rename a device")
    .argument("<device>", "device id or unique name")
    .argument("<new-name>", "letters, digits, . _ - (1-64)")
    .option("--json", "print the device as JSON")
    .action(async (ref: string, name: string, o: { json?: boolean }, cmd: Command) => {
      // The same rule as the server's, at enrollment and rename (protocol names.ts).
      if (!isDeviceName(name))
        throw new CliError(`bad name ${JSON.stringify(name)}: use ${DEVICE_NAME_RULE}`, EXIT.usage);
      const d = await client(ctx, cmd).updateDevice(ref, { name });
      if (o.json) return printJson(ctx, d);
      ctx.io.stdout(`${d.id} is now ${escapeControl(d.name)}\n`);
    });
}
