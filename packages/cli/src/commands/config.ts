/**
 * tether config (docs/protocol.md §18): remote configuration. Layers (the project's defaults,
 * groups by label selector and priority, single devices) hold values under dotted keys and
 * files; every change is a revision; a device's effective configuration is their merge.
 * set/unset/push-file/rollback send the layer revision they read so concurrent edits conflict.
 */
import { readFileSync, statSync } from "node:fs";
import {
  CANARY_PATTERN,
  CONFIG_GROUP_NAME,
  CONFIG_LIMITS,
  type ConfigApi,
  type ConfigChange,
  type ConfigDeviceStatus,
  type ConfigDeviceView,
  type ConfigDiff,
  type ConfigGroup,
  type ConfigLayerView,
  type ConfigRollout,
  type ConfigRolloutDetail,
  type ConfigStatusView,
  configApi,
  fmtBytesIec,
  flattenValues,
  parseAssignment,
  parseFilePath,
  parseKeyPath,
  parseLayerRef,
  plural,
  type RolloutSpec,
  SECRET_MASK,
} from "@tether/sdk";
import type { Command } from "commander";
import { parseIntArg, parseSelectorArg } from "../args.js";
import { type Ctx, client, printJson, printList } from "../context.js";
import { CliError, EXIT } from "../io.js";
import { details, table } from "../table.js";
import { durationOpt, localTime } from "./alerts.js";

const usage = (m: string) => new CliError(m, EXIT.usage);

const LAYER_HELP = "(--defaults | --group NAME | --device DEVICE)";

const CONFIG_HELP = `
Examples:
  tether config groups create site-tokyo --selector site=tokyo --priority 10
  tether config set --group site-tokyo nav.hz=20 nav.max_speed=1.5 -m "faster in Tokyo"
  tether config set --defaults version=1.10 --string
  tether config set --device robot-7 api.token=s3cret --secret
  tether config unset --group site-tokyo nav.max_speed
  tether config push-file --group site-tokyo nav/params.yaml --from ./params.yaml
  tether config set --group site-tokyo nav.hz=25 --canary 10% --wait 10m --max-failures 1
  tether config get robot-7 --explain
  tether config status --selector site=tokyo
  tether config history --group site-tokyo
  tether config diff 12 15
  tether config rollback 12 -m "back to Tuesday"
  tether config rollout list
  tether config rollout status rol_0123456789abcdefghij

Layers: --defaults (the project's defaults), --group NAME (devices matching its label
selector; groups merge by priority, lowest first), --device DEVICE (one device, last).
A device's configuration is the merge of every layer that applies; null deletes an
inherited key. KEY is a dotted path (nav.hz=20 sets hz inside nav); a VALUE that is valid
JSON is taken as JSON, else as a string (--string: every VALUE is a string).

Exit codes: 0 ok, 1 refused by the server (a conflict with another edit, a schema violation,
a limit), 2 usage (said before any request), 3 not allowed, 4 no such group, device,
revision or rollout, 255 the server unreachable.`;

interface LayerOpts {
  defaults?: boolean;
  group?: string;
  device?: string;
}

interface RolloutOpts {
  canary?: string;
  wait?: string;
  maxFailures?: string;
}

/** The layer ref (`defaults`, `group:NAME`, `device:DEVICE`) of the layer options; exactly one. */
export function layerRef(o: LayerOpts): string {
  const given = [
    o.defaults && "--defaults",
    o.group !== undefined && "--group",
    o.device !== undefined && "--device",
  ].filter((x): x is string => !!x);
  if (given.length === 0) throw usage(`name the layer: ${LAYER_HELP}`);
  if (given.length > 1) throw usage(`name one layer: ${given.join(" and ")} cannot be combined`);
  if (o.defaults) return "defaults";
  if (o.group !== undefined) {
    if (!new RegExp(CONFIG_GROUP_NAME).test(o.group))
      throw usage(
        `bad group name ${JSON.stringify(o.group)}: lowercase letters, digits and - (1-63, not starting or ending with -)`,
      );
    return `group:${o.group}`;
  }
  const ref = `device:${o.device}`;
  try {
    parseLayerRef(ref);
  } catch {
    throw usage(`bad device ${JSON.stringify(o.device)}: a device name or id`);
  }
  return ref;
}

/** The rollout of --canary/--wait/--max-failures, or undefined without --canary. */
export function rolloutSpec(o: RolloutOpts): RolloutSpec | undefined {
  if (o.canary === undefined) {
    const stray = [o.wait !== undefined && "--wait", o.maxFailures !== undefined && "--max-failures"].filter(
      Boolean,
    );
    if (stray.length) throw usage(`${stray.join(" and ")} need --canary N or --canary P%`);
    return undefined;
  }
  if (!new RegExp(CANARY_PATTERN).test(o.canary))
    throw usage(
      `--canary must be a number of devices (5) or a percentage (10%), got ${JSON.stringify(o.canary)}`,
    );
  const spec: RolloutSpec = { canary: o.canary };
  if (o.wait !== undefined) spec.waitMs = durationOpt(o.wait, "--wait", 1000, 30 * 86_400_000);
  if (o.maxFailures !== undefined) {
    spec.maxFailures = parseIntArg(o.maxFailures, "--max-failures", 0);
    if (spec.maxFailures > 100_000) throw usage("--max-failures must be at most 100000");
  }
  return spec;
}

/** KEY=VALUE arguments as the PATCH's `set` list; a bad key is a usage error (exit 2). */
export function parseAssignments(
  args: string[],
  o: { string?: boolean; secret?: boolean } = {},
): { key: string; value: unknown; secret?: boolean }[] {
  const out: { key: string; value: unknown; secret?: boolean }[] = [];
  for (const a of args) {
    let p: ReturnType<typeof parseAssignment>;
    try {
      p = parseAssignment(a, o.string === true);
    } catch (err) {
      throw usage((err as Error).message);
    }
    out.push({ key: p.key, value: p.value, ...(o.secret ? { secret: true } : {}) });
  }
  const keys = out.map((x) => x.key);
  const dup = keys.find((k, i) => keys.indexOf(k) !== i);
  if (dup) throw usage(`${dup} is given twice`);
  return out;
}

/** KEY and file:PATH arguments of `unset`, checked. */
export function parseUnsetArgs(args: string[]): string[] {
  for (const a of args) {
    try {
      if (a.startsWith("file:")) parseFilePath(a.slice("file:".length));
      else parseKeyPath(a);
    } catch (err) {
      throw usage((err as Error).message);
    }
  }
  return [...new Set(args)];
}

const MESSAGE_CHARS = CONFIG_LIMITS.messageChars;
function checkMessage(m: string | undefined): string | undefined {
  if (m !== undefined && m.length > MESSAGE_CHARS) throw usage(`-m: at most ${MESSAGE_CHARS} characters`);
  return m;
}

/** -m and --canary/--wait/--max-failures, checked, as the optional fields of a write. */
function messageAndRollout(o: RolloutOpts & { message?: string }): {
  message?: string;
  rollout?: RolloutSpec;
} {
  const rollout = rolloutSpec(o);
  const message = checkMessage(o.message);
  return { ...(message !== undefined ? { message } : {}), ...(rollout ? { rollout } : {}) };
}

/** "created group site-tokyo (selector site=tokyo, priority 10); it matches 3 devices" */
const groupText = (did: string, g: ConfigGroup): string =>
  `${did} group ${g.name} (selector ${g.selector}, priority ${g.priority}); it matches ${plural(g.devices, "device")}\n`;

/** A value as it reads in a table: JSON (strings quoted), secrets as the mask, long ones clipped. */
export function valueText(v: unknown, secret = false, max = 80): string {
  if (secret) return SECRET_MASK;
  const s = v === undefined ? "" : JSON.stringify(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function layerRows(values: Record<string, unknown>, secretKeys: string[]): [string, string][] {
  const secret = new Set(secretKeys);
  return flattenValues(values).map(([k, v]) => [k, valueText(v, secret.has(k))]);
}

/** "revision 15; 3 devices affected" and the rollout, after a write. */
export function changeText(verb: string, c: ConfigChange): string {
  const lines = [
    `${verb} ${c.layerLabel}: revision ${c.revision}; ${plural(c.affected, "device")} ${c.rollout ? "to update" : "affected"}`,
  ];
  const r = c.rollout;
  if (r) {
    const then =
      r.waitMs !== null
        ? `the rest ${fmtWait(r.waitMs)} after the canary applied it`
        : `the rest when you run: tether config rollout resume ${r.id}`;
    lines.push(
      `rollout ${r.id}: canary ${r.canary} first (${plural(r.counts.canary, "device")}), ${then}; pauses when more than ${plural(r.maxFailures, "device")} fail`,
    );
    lines.push(`follow it: tether config rollout status ${r.id}`);
  }
  return `${lines.join("\n")}\n`;
}

function fmtWait(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}

/** "canary 1/1 applied; 3 of 10 released; 2 applied, 0 failed, 8 pending". */
export function progressText(r: ConfigRollout): string {
  const c = r.counts;
  return `${c.released} of ${c.total} released (canary ${c.canary}); ${c.applied} applied, ${c.failed} failed, ${c.pending} pending`;
}

function rolloutStateText(r: ConfigRollout): string {
  return r.reason ? `${r.state} (${r.reason})` : r.state;
}

function statusLine(s: ConfigDeviceStatus): string {
  const rev = (n: number | null) => (n === null ? "none" : String(n));
  const parts = [`${s.status}`, `desired ${rev(s.desired)}`, `reported ${rev(s.reported)}`];
  if (!s.online) parts.push("offline");
  if (s.heldBy) parts.push(`held by rollout ${s.heldBy}`);
  return parts.join(", ");
}

export function statusTable(v: ConfigStatusView): string {
  const rows = v.devices.map((d) => [
    d.device.name,
    d.online ? "yes" : "no",
    d.status,
    d.desired,
    d.reported,
    d.drift.length ? d.drift.join(",") : "",
    d.error ? d.error.split("\n")[0]?.slice(0, 80) : d.heldBy ? `held by ${d.heldBy}` : "",
  ]);
  let out = rows.length
    ? table(["device", "online", "status", "desired", "reported", "drift", "error"], rows)
    : "no devices\n";
  const counts = Object.entries(v.counts)
    .filter(([k, n]) => n > 0 && k !== "total")
    .map(([k, n]) => `${n} ${k}`);
  out += `${plural(v.devices.length, "device")}${counts.length ? `: ${counts.join(", ")}` : ""}\n`;
  for (const w of v.warnings) out += `warning: ${w}\n`;
  return out;
}

export function explainTable(v: ConfigDeviceView): string {
  if (!v.explain.length) return "no values\n";
  return table(
    ["key", "value", "set by", "revision", "overrides"],
    v.explain.map((e) => [
      e.key,
      valueText(e.value, e.secret, 60),
      e.layerLabel,
      e.revision,
      e.overrides.map((o) => `${o.layerLabel}: ${valueText(o.value, e.secret, 30)}`).join("; "),
    ]),
  );
}

export function deviceText(v: ConfigDeviceView, explain: boolean): string {
  let out = `${v.device.name}: ${statusLine(v)}\n`;
  if (v.error) out += `error: ${v.error}\n`;
  if (v.hookOutput) out += `hook output:\n${v.hookOutput.replace(/\n?$/, "\n")}`;
  if (v.drift.length) out += `drift: changed by hand on the device: ${v.drift.join(", ")}\n`;
  out += `layers: ${v.layers.length ? v.layers.map((l) => `${l.layerLabel}${l.revision !== null ? ` (r${l.revision})` : ""}`).join(", ") : "none"}\n`;
  for (const w of v.warnings) out += `warning: ${w}\n`;
  out += "\n";
  if (explain) out += explainTable(v);
  else {
    const secret = new Set(v.explain.filter((e) => e.secret).map((e) => e.key));
    const rows = flattenValues(v.values).map(([k, x]) => [k, valueText(x, secret.has(k))]);
    out += rows.length ? table(["key", "value"], rows) : "no values\n";
  }
  if (v.files.length)
    out += `\n${table(
      ["file", "size", "kind", "from"],
      v.files.map((f) => [
        f.path,
        fmtBytesIec(f.size),
        f.secret ? `${f.kind}, secret` : f.kind,
        f.layerLabel,
      ]),
    )}`;
  return out;
}

export function layerText(v: ConfigLayerView): string {
  const pairs: [string, string | number | null][] = [
    ["layer", v.layerLabel],
    ["revision", v.revision ?? "none (never written)"],
  ];
  if (v.group) pairs.push(["selector", v.group.selector], ["priority", v.group.priority]);
  if (v.updatedAt)
    pairs.push(["updated", `${localTime(v.updatedAt)}${v.updatedBy ? ` by ${v.updatedBy}` : ""}`]);
  if (v.rollout) pairs.push(["rollout", `${v.rollout.id} ${rolloutStateText(v.rollout)}`]);
  let out = `${details(pairs)}\n`;
  const rows = layerRows(v.values, v.secretKeys);
  out += rows.length ? table(["key", "value"], rows) : "no values\n";
  if (v.files.length)
    out += `\n${table(
      ["file", "size", "kind", "hash"],
      v.files.map((f) => [
        f.path,
        fmtBytesIec(f.size),
        f.secret ? `${f.kind}, secret` : f.kind,
        f.hash.slice(0, 12),
      ]),
    )}`;
  return out;
}

export function diffText(d: ConfigDiff): string {
  let out = `${d.layerLabel}: revision ${d.from} → ${d.to}\n`;
  if (!d.entries.length && !d.files.length) return `${out}no differences\n`;
  for (const e of d.entries) {
    if (e.secret)
      out += `${e.op === "added" ? "+" : e.op === "removed" ? "-" : "~"} ${e.key} (secret, ${e.op})\n`;
    else if (e.op === "added") out += `+ ${e.key} = ${valueText(e.to, false, 200)}\n`;
    else if (e.op === "removed") out += `- ${e.key} (was ${valueText(e.from, false, 200)})\n`;
    else out += `~ ${e.key}: ${valueText(e.from, false, 100)} → ${valueText(e.to, false, 100)}\n`;
  }
  for (const f of d.files) {
    out += `${f.op === "added" ? "+" : f.op === "removed" ? "-" : "~"} file ${f.path} (${f.secret ? "secret, " : ""}${f.op})\n`;
    if (f.text) out += f.text.replace(/\n?$/, "\n");
  }
  return out;
}

export function rolloutText(r: ConfigRolloutDetail): string {
  const pairs: [string, string | number | null][] = [
    ["rollout", r.id],
    [
      "layer",
      `${r.layerLabel} (revision ${r.revision}${r.baseRevision !== null ? `, from ${r.baseRevision}` : ""})`,
    ],
    ["state", rolloutStateText(r)],
    ["canary", `${r.canary} (${plural(r.counts.canary, "device")})`],
    [
      "then",
      r.waitMs !== null ? `the rest ${fmtWait(r.waitMs)} after the canary applied` : "the rest on resume",
    ],
    ["max failures", r.maxFailures],
    ["progress", progressText(r)],
  ];
  if (r.releaseAt) pairs.push(["release at", localTime(r.releaseAt)]);
  pairs.push(["created", `${localTime(r.createdAt)} by ${r.createdBy}`]);
  let out = details(pairs);
  if (r.devices.length)
    out += `\n${table(
      ["device", "stage", "released", "status", "error"],
      r.devices.map((d) => [
        d.name,
        d.stage,
        d.released ? "yes" : "no",
        d.status,
        d.error?.split("\n")[0] ?? "",
      ]),
    )}`;
  return out;
}

const ROLLOUT_ID = /^rol_[a-z0-9]{20}$/;
function checkRolloutId(id: string): void {
  if (!ROLLOUT_ID.test(id))
    throw new CliError(
      `no rollout ${id}: rollout ids are rol_ and 20 letters or digits (tether config rollout list)`,
      EXIT.notFound,
    );
}

function parseRev(s: string, what: string): number {
  if (!/^[1-9]\d{0,14}$/.test(s.trim()))
    throw usage(`${what} must be a revision number, got ${JSON.stringify(s)}`);
  return Number(s);
}

function layerOptions(c: Command): Command {
  return c
    .option("--defaults", "the project's defaults layer")
    .option("-g, --group <name>", "a group's layer")
    .option("-d, --device <device>", "one device's own layer (name or id)");
}

function rolloutOptions(c: Command): Command {
  return c
    .option("--canary <n|p%>", "staged rollout: this many devices (5) or percent (10%) first")
    .option("--wait <duration>", "with --canary: release the rest this long after the canary applied (10m)")
    .option("--max-failures <n>", "with --canary: pause when more devices than this fail (default 0)");
}

export function registerConfig(program: Command, ctx: Ctx): void {
  const cfg = program
    .command("config")
    .description("remote configuration: layered values and files for devices, groups and the project")
    .addHelpText("after", CONFIG_HELP);
  const api = (cmd: Command): ConfigApi => configApi(client(ctx, cmd));
  const out = (s: string) => ctx.io.stdout(s);
  /** set / unset: a PATCH based on the layer's current revision (a concurrent edit is a conflict). */
  const patchLayer = async (
    cmd: Command,
    ref: string,
    o: RolloutOpts & { message?: string; json?: boolean },
    change: { set: ReturnType<typeof parseAssignments> } | { unset: string[] },
    did: string,
  ) => {
    const extra = messageAndRollout(o);
    const a = api(cmd);
    const base = await a.layer(ref);
    const c = await a.patch(ref, { baseRevision: base.revision, ...change, ...extra });
    if (o.json) return printJson(ctx, c);
    out(changeText(did, c));
  };

  // --- set / unset / show ----------------------------------------------------------------------
  rolloutOptions(
    layerOptions(
      cfg
        .command("set")
        .description(`set keys in a layer: tether config set ${LAYER_HELP} KEY=VALUE...`)
        .argument("<assignments...>", "KEY=VALUE (KEY dotted: nav.hz=20; VALUE JSON, else a string)"),
    ),
  )
    .option("-m, --message <msg>", "why (kept in the history)")
    .option("--secret", "the values are secret: write-only, shown masked, encrypted at rest")
    .option("--string", "take every VALUE as a string (version=1.10)")
    .option("--json", "print the change as JSON")
    .addHelpText("after", CONFIG_HELP)
    .action(
      async (
        args: string[],
        o: LayerOpts & RolloutOpts & { message?: string; secret?: boolean; string?: boolean; json?: boolean },
        cmd: Command,
      ) => {
        const ref = layerRef(o);
        const set = parseAssignments(args, o);
        await patchLayer(cmd, ref, o, { set }, `set ${set.map((s) => s.key).join(", ")} in`);
      },
    );

  rolloutOptions(
    layerOptions(
      cfg
        .command("unset")
        .description(`remove keys (or file:PATH) from a layer: tether config unset ${LAYER_HELP} KEY...`)
        .argument("<keys...>", "dotted KEY, or file:PATH to remove a file"),
    ),
  )
    .option("-m, --message <msg>", "why (kept in the history)")
    .option("--json", "print the change as JSON")
    .action(
      async (args: string[], o: LayerOpts & RolloutOpts & { message?: string; json?: boolean }, cmd) => {
        const ref = layerRef(o);
        const unset = parseUnsetArgs(args);
        await patchLayer(cmd, ref, o, { unset }, `removed ${unset.join(", ")} from`);
      },
    );

  layerOptions(
    cfg.command("show").description(`a layer's own values and files: tether config show ${LAYER_HELP}`),
  )
    .option("--json", "print the layer as JSON")
    .action(async (o: LayerOpts & { json?: boolean }, cmd: Command) => {
      const v = await api(cmd).layer(layerRef(o));
      if (o.json) return printJson(ctx, v);
      out(layerText(v));
    });

  // --- push-file -------------------------------------------------------------------------------
  rolloutOptions(
    layerOptions(
      cfg
        .command("push-file")
        .description(`put a file into a layer: tether config push-file ${LAYER_HELP} PATH --from LOCAL_FILE`)
        .argument("<path>", "where the agent writes it, under its config/files/ (e.g. nav/params.yaml)"),
    ),
  )
    .requiredOption("--from <local-file>", "the local file to upload (at most 16 MiB)")
    .option("--secret", "the file is secret: write-only, encrypted at rest and to the device's key")
    .option("-m, --message <msg>", "why (kept in the history)")
    .option("--json", "print the change as JSON")
    .addHelpText(
      "after",
      `
.json and .yaml/.yml files merge across layers like values (invalid JSON/YAML is refused with
the line and column); other files are replaced by the most specific layer's.`,
    )
    .action(
      async (
        path: string,
        o: LayerOpts & RolloutOpts & { from: string; secret?: boolean; message?: string; json?: boolean },
        cmd: Command,
      ) => {
        const ref = layerRef(o);
        try {
          parseFilePath(path);
        } catch (err) {
          throw usage((err as Error).message);
        }
        const extra = messageAndRollout(o);
        let size: number;
        try {
          const st = statSync(o.from);
          if (!st.isFile()) throw new Error("not a regular file");
          size = st.size;
        } catch (err) {
          throw usage(
            `cannot read --from ${o.from}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
          );
        }
        if (size > CONFIG_LIMITS.fileBytes)
          throw usage(
            `${o.from} is ${fmtBytesIec(size)}: a configuration file is at most ${fmtBytesIec(CONFIG_LIMITS.fileBytes)}`,
          );
        const bytes = readFileSync(o.from);
        const a = api(cmd);
        const base = await a.layer(ref);
        ctx.io.stderr(`uploading ${o.from} (${fmtBytesIec(bytes.length)}) as ${path}\n`);
        const c = await a.putFile(
          ref,
          path,
          new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
          {
            baseRevision: base.revision,
            ...(o.secret ? { secret: true } : {}),
            ...extra,
          },
        );
        if (o.json) return printJson(ctx, c);
        out(changeText(`pushed ${path} (${fmtBytesIec(bytes.length)}${o.secret ? ", secret" : ""}) to`, c));
      },
    );

  // --- get / status ----------------------------------------------------------------------------
  cfg
    .command("get")
    .description("a device's effective configuration and its status; --explain: where each key comes from")
    .argument("<device>", "device name or id")
    .option("--explain", "for each key: its value, the layer that set it and what it overrides")
    .option("--json", "print the device's configuration as JSON (values, files, layers, explain, status)")
    .action(async (device: string, o: { explain?: boolean; json?: boolean }, cmd: Command) => {
      const v = await api(cmd).device(device);
      if (o.json) return printJson(ctx, v);
      out(deviceText(v, o.explain === true));
    });

  cfg
    .command("status")
    .description("desired vs reported configuration per device: status, error, drift; warnings")
    .argument("[device]", "one device (name or id)")
    .option("-s, --selector <k=v,...>", "only devices matching labels/facts")
    .option("--json", "print the status view as JSON")
    .action(async (device: string | undefined, o: { selector?: string; json?: boolean }, cmd: Command) => {
      if (device !== undefined && o.selector !== undefined)
        throw usage("give a DEVICE or --selector, not both");
      if (o.selector !== undefined) parseSelectorArg(o.selector);
      const v = await api(cmd).status({ device, selector: o.selector });
      if (o.json) return printJson(ctx, v);
      out(statusTable(v));
    });

  // --- history / diff / rollback ---------------------------------------------------------------
  layerOptions(
    cfg
      .command("history")
      .description(`a layer's revisions, newest first: tether config history ${LAYER_HELP}`),
  )
    .option(
      "-n, --limit <n>",
      `at most N revisions (max ${CONFIG_LIMITS.historyMax})`,
      String(CONFIG_LIMITS.historyDefault),
    )
    .option("--json", "print a JSON array of the revisions")
    .action(async (o: LayerOpts & { limit: string; json?: boolean }, cmd: Command) => {
      const ref = layerRef(o);
      const limit = parseIntArg(o.limit, "--limit");
      if (limit > CONFIG_LIMITS.historyMax)
        throw usage(`--limit must be at most ${CONFIG_LIMITS.historyMax}`);
      const list = await api(cmd).history(ref, limit);
      printList(
        ctx,
        o.json,
        list,
        ["revision", "time", "author", "kind", "changed", "message"],
        (r) => [
          r.revision,
          localTime(r.at),
          r.author,
          r.kind === "rollback" && r.restored !== null ? `rollback to ${r.restored}` : r.kind,
          r.changed.length > 4
            ? `${r.changed.slice(0, 4).join(", ")} +${r.changed.length - 4}`
            : r.changed.join(", "),
          r.message,
        ],
        `no revisions of ${ref === "defaults" ? "the project defaults" : ref.replace(":", " ")}`,
      );
    });

  cfg
    .command("diff")
    .description("what changed between two revisions of one layer (secret values never shown)")
    .argument("<rev-a>", "the older revision")
    .argument("<rev-b>", "the newer revision")
    .option("--json", "print the diff as JSON")
    .action(async (a: string, b: string, o: { json?: boolean }, cmd: Command) => {
      const d = await api(cmd).diff(parseRev(a, "REV_A"), parseRev(b, "REV_B"));
      if (o.json) return printJson(ctx, d);
      out(diffText(d));
    });

  rolloutOptions(
    cfg
      .command("rollback")
      .description("restore a layer as it was at REV (a new revision)")
      .argument("<rev>", "the revision to restore"),
  )
    .option("-m, --message <msg>", "why (kept in the history)")
    .option("--json", "print the change as JSON")
    .action(async (revArg: string, o: RolloutOpts & { message?: string; json?: boolean }, cmd: Command) => {
      const revision = parseRev(revArg, "REV");
      const extra = messageAndRollout(o);
      const a = api(cmd);
      const r = await a.revision(revision);
      if (r.layer === null)
        throw new CliError(`revision ${revision} changed no layer (${r.kind}): nothing to roll back`);
      const base = await a.layer(r.layer).catch((err) => {
        // A deleted group's layer: restore without a base (the server decides).
        if ((err as { status?: number }).status === 404) return undefined;
        throw err;
      });
      const c = await a.rollback({
        revision,
        ...(base ? { baseRevision: base.revision } : {}),
        ...extra,
      });
      if (o.json) return printJson(ctx, c);
      out(changeText(`restored revision ${revision} of`, c));
    });

  // --- groups ----------------------------------------------------------------------------------
  const groups = cfg
    .command("groups")
    .alias("group")
    .description("configuration groups: a label selector and a priority");

  groups
    .command("create")
    .description("create a group: the devices its selector matches get its layer")
    .argument("<name>", "lowercase letters, digits and - (1-63)")
    .requiredOption("-s, --selector <k=v,...>", "label selector, e.g. site=tokyo,model=amr2 (labels only)")
    .requiredOption(
      "-p, --priority <n>",
      "merge order: groups merge lowest priority first (more specific last)",
    )
    .option("-m, --message <msg>", "why (kept in the history)")
    .option("--json", "print the group as JSON")
    .action(
      async (
        name: string,
        o: { selector: string; priority: string; message?: string; json?: boolean },
        cmd,
      ) => {
        checkGroupName(name);
        checkGroupSelector(o.selector);
        const priority = parsePriority(o.priority);
        const g = await api(cmd).createGroup({
          name,
          selector: o.selector,
          priority,
          ...(checkMessage(o.message) !== undefined ? { message: o.message } : {}),
        });
        if (o.json) return printJson(ctx, g);
        out(groupText("created", g));
      },
    );

  groups
    .command("update")
    .description("change a group's selector or priority (re-targets the devices)")
    .argument("<name>", "group name")
    .option("-s, --selector <k=v,...>", "new label selector")
    .option("-p, --priority <n>", "new priority")
    .option("-m, --message <msg>", "why (kept in the history)")
    .option("--json", "print the group as JSON")
    .action(
      async (
        name: string,
        o: { selector?: string; priority?: string; message?: string; json?: boolean },
        cmd,
      ) => {
        checkGroupName(name);
        if (o.selector === undefined && o.priority === undefined)
          throw usage("give --selector or --priority");
        if (o.selector !== undefined) checkGroupSelector(o.selector);
        const g = await api(cmd).updateGroup(name, {
          ...(o.selector !== undefined ? { selector: o.selector } : {}),
          ...(o.priority !== undefined ? { priority: parsePriority(o.priority) } : {}),
          ...(checkMessage(o.message) !== undefined ? { message: o.message } : {}),
        });
        if (o.json) return printJson(ctx, g);
        out(groupText("updated", g));
      },
    );

  groups
    .command("list")
    .alias("ls")
    .description("the groups in merge order: selector, priority, devices matched, revision")
    .option("--json", "print a JSON array of the groups")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const list = (await api(cmd).groups()).sort(
        (x, y) => x.priority - y.priority || x.name.localeCompare(y.name),
      );
      printList(
        ctx,
        o.json,
        list,
        ["name", "selector", "priority", "devices", "revision"],
        (g) => [g.name, g.selector, g.priority, g.devices, g.revision],
        "no configuration groups (create one: tether config groups create --help)",
      );
    });

  groups
    .command("delete")
    .alias("rm")
    .description("delete a group (a revision; its history stays readable)")
    .argument("<name>", "group name")
    .option("-m, --message <msg>", "why (kept in the history)")
    .action(async (name: string, o: { message?: string }, cmd: Command) => {
      checkGroupName(name);
      await api(cmd).deleteGroup(name, checkMessage(o.message));
      out(`deleted group ${name}\n`);
    });

  // --- rollouts --------------------------------------------------------------------------------
  const rollouts = cfg
    .command("rollout")
    .alias("rollouts")
    .description("staged rollouts (--canary): list, progress, pause, resume, abort");

  rollouts
    .command("list")
    .alias("ls")
    .description("unfinished rollouts (--all: finished ones too)")
    .option("--all", "finished rollouts too (the newest 100)")
    .option("--json", "print a JSON array of the rollouts")
    .action(async (o: { all?: boolean; json?: boolean }, cmd: Command) => {
      const list = await api(cmd).rollouts(o.all === true);
      printList(
        ctx,
        o.json,
        list,
        ["id", "layer", "revision", "state", "progress", "created"],
        (r) => [r.id, r.layerLabel, r.revision, rolloutStateText(r), progressText(r), localTime(r.createdAt)],
        o.all
          ? "no rollouts"
          : "no unfinished rollouts (tether config rollout list --all shows finished ones)",
      );
    });

  rollouts
    .command("status")
    .description("a rollout's progress: canary, released, applied, failed, pending; state and reason")
    .argument("<rollout>", "rollout id (rol_...)")
    .option("--json", "print the rollout with its devices as JSON")
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
      checkRolloutId(id);
      const r = await api(cmd).rollout(id);
      if (o.json) return printJson(ctx, r);
      out(rolloutText(r));
    });

  for (const [action, words] of [
    ["pause", "pause a rollout: released devices keep the change, no more are released"],
    ["resume", "resume a rollout: finish the canary, or release the rest"],
    ["abort", "abort a rollout: the layer goes back to its base revision (a new revision) on every device"],
  ] as const) {
    rollouts
      .command(action)
      .description(words)
      .argument("<rollout>", "rollout id (rol_...)")
      .option("--json", "print the rollout as JSON")
      .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
        checkRolloutId(id);
        const a = api(cmd);
        const r =
          action === "pause"
            ? await a.pauseRollout(id)
            : action === "resume"
              ? await a.resumeRollout(id)
              : await a.abortRollout(id);
        if (o.json) return printJson(ctx, r);
        const past = action === "pause" ? "paused" : action === "resume" ? "resumed" : "aborted";
        out(`${past} rollout ${r.id} of ${r.layerLabel}: now ${rolloutStateText(r)}; ${progressText(r)}\n`);
      });
  }

  // --- schema ----------------------------------------------------------------------------------
  const schema = cfg
    .command("schema")
    .description("the project's JSON Schema for effective values (writes that break it are refused)");

  schema
    .command("show")
    .description("the project's JSON Schema")
    .option("--json", "print the schema view as JSON")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const v = await api(cmd).schema();
      if (o.json) return printJson(ctx, v);
      if (!v.schema) {
        ctx.io.stderr("no configuration schema (set one: tether config schema set FILE)\n");
        return;
      }
      out(`${JSON.stringify(v.schema, null, 2)}\n`);
    });

  schema
    .command("set")
    .description("set the schema from a JSON file (admin); every device's current values are checked first")
    .argument("<file>", "a JSON Schema file")
    .action(async (file: string, _o: unknown, cmd: Command) => {
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (err) {
        throw usage(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      if (Buffer.byteLength(text) > CONFIG_LIMITS.schemaBytes)
        throw usage(`${file}: a schema is at most ${fmtBytesIec(CONFIG_LIMITS.schemaBytes)}`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw usage(`${file} is not valid JSON: ${(err as Error).message}`);
      }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
        throw usage(`${file}: a JSON Schema is an object`);
      await api(cmd).setSchema(parsed as Record<string, unknown>);
      out(`set the configuration schema from ${file}\n`);
    });

  schema
    .command("clear")
    .description("remove the schema (admin)")
    .action(async (_o: unknown, cmd: Command) => {
      await api(cmd).clearSchema();
      out("removed the configuration schema\n");
    });
}

function checkGroupName(name: string): void {
  if (!new RegExp(CONFIG_GROUP_NAME).test(name))
    throw usage(
      `bad group name ${JSON.stringify(name)}: lowercase letters, digits and - (1-63, not starting or ending with -)`,
    );
}

function checkGroupSelector(s: string): void {
  const terms = parseSelectorArg(s);
  const fact = terms.find((t) => t.key.startsWith("fact."));
  if (fact) throw usage(`bad --selector: a group selects by labels only, not ${fact.key}`);
}

function parsePriority(s: string): number {
  if (!/^-?\d{1,7}$/.test(s.trim()) || Math.abs(Number(s)) > 1_000_000)
    throw usage(`--priority must be an integer from -1000000 to 1000000, got ${JSON.stringify(s)}`);
  return Number(s);
}
