/**
 * The audit log in words: one sentence per entry, shared by the console and the CLI
 * (browser-safe, no I/O). `auditSentence` is the one builder; `auditText` and the console's
 * audit page render its parts. Every action the server writes has a sentence here; an unknown
 * one gets a generic sentence.
 */
import type { AuditEntry } from "@tether/protocol/api";
import { commandText, fmtSpan, plural } from "./format.js";

/** A piece of a sentence: plain text, code (a command line), a device, or a command. */
export type AuditPart =
  | { text: string }
  | { code: string }
  | { device: string; id: string; deleted?: boolean }
  | { command: string };

export interface AuditSentence {
  /** Who did it, as a person reads it: a username, or the device's name for what a device did itself. */
  actor: string;
  /** The device the actor is, when a device did it itself. */
  actorDevice?: { id: string; deleted?: boolean };
  /** The rest of the sentence after the actor ("ran `uptime` on robot-7"). */
  parts: AuditPart[];
}

type Entry = Pick<AuditEntry, "actor" | "action" | "deviceId" | "detail"> &
  Partial<Pick<AuditEntry, "deviceName" | "deviceDeleted">>;

const MAX_CODE = 120;

export interface AuditTextOptions {
  /** How a time inside a sentence reads (an expiry); default "2026-05-01 12:00 UTC". */
  time?: (iso: string) => string;
}

/** The sentence of one audit entry: its actor and what they did, with names rather than ids. */
export function auditSentence(e: Entry, o: AuditTextOptions = {}): AuditSentence {
  const when = (iso: string) => (o.time && !Number.isNaN(Date.parse(iso)) ? o.time(iso) : utc(iso));
  const d = e.detail ?? {};
  const str = (k: string): string | undefined => (typeof d[k] === "string" ? (d[k] as string) : undefined);
  const num = (k: string): number | undefined => (typeof d[k] === "number" ? (d[k] as number) : undefined);
  const t = (text: string): AuditPart => ({ text });
  const deviceName = e.deviceName ?? str("name") ?? "a device";
  const device: AuditPart = e.deviceId
    ? { device: deviceName, id: e.deviceId, ...(e.deviceDeleted ? { deleted: true } : {}) }
    : t(deviceName);

  let actor = e.actor;
  let actorDevice: AuditSentence["actorDevice"];
  if (e.actor.startsWith("device:")) {
    const id = e.actor.slice("device:".length);
    actorDevice = { id, ...(e.deviceDeleted ? { deleted: true } : {}) };
    actor = id === e.deviceId ? deviceName : `device ${id}`;
  }
  const done = (...parts: AuditPart[]): AuditSentence => ({
    actor,
    ...(actorDevice ? { actorDevice } : {}),
    parts: merge(parts),
  });
  const fingerprint = str("fingerprint");

  switch (e.action) {
    case "command.run": {
      const argv = Array.isArray(d.argv) ? d.argv.map(String) : [];
      const user = str("user");
      const cwd = str("cwd");
      return done(
        t("ran "),
        { code: clip(commandText({ argv, shell: d.shell === true })) },
        t(" on "),
        device,
        ...(user ? [t(` as ${user}`)] : []),
        ...(cwd ? [t(" in "), { code: cwd }] : []),
      );
    }
    case "command.cancel": {
      const killed = num("killed") ?? 0;
      const dropped = num("dropped") ?? 0;
      const what = [
        killed ? `stopped ${plural(killed, "running device")}` : "",
        dropped ? `dropped it on ${plural(dropped, "waiting device")}` : "",
      ].filter(Boolean);
      return done(
        t("cancelled "),
        { command: str("command") ?? "" },
        ...(what.length ? [t(` (${what.join(", ")})`)] : []),
      );
    }
    case "device.accept":
      return done(t("accepted "), device, ...(fingerprint ? [t(` (fingerprint ${fingerprint})`)] : []));
    case "device.reject":
      return done(t("rejected "), device);
    case "device.revoke":
      return done(t("revoked "), device);
    case "device.delete":
      return done(t("deleted "), device);
    case "device.rename": {
      const from = str("from");
      const to = str("to");
      // The device part shows today's name; the sentence says what the rename was.
      if (from && to)
        return done(t(`renamed ${from} to ${to}`), ...(deviceName !== to ? [t(" ("), device, t(")")] : []));
      return done(t("renamed "), device);
    }
    case "device.label": {
      const changes = (d.changes ?? {}) as Record<string, unknown>;
      const set = Object.entries(changes).filter(([, v]) => v !== null);
      const removed = Object.entries(changes).filter(([, v]) => v === null);
      const what = [
        set.length ? `set ${set.map(([k, v]) => `${k}=${String(v)}`).join(", ")}` : "",
        removed.length ? `removed ${removed.map(([k]) => k).join(", ")}` : "",
      ].filter(Boolean);
      return done(t("changed the labels of "), device, ...(what.length ? [t(`: ${what.join("; ")}`)] : []));
    }
    case "device.enroll": {
      const from = str("sourceAddress");
      const state = str("state");
      return done(
        t(`enrolled${from ? ` from ${from}` : ""}`),
        ...(fingerprint ? [t(` (fingerprint ${fingerprint})`)] : []),
        t(
          state === "accepted"
            ? "; accepted automatically"
            : state === "pending"
              ? "; waiting for an operator to accept it"
              : state
                ? `; ${state}`
                : "",
        ),
      );
    }
    case "device.rotate-credential":
      return done(t("rotated the broker credential and telemetry token of "), device);
    case "device.credential-applied":
      return done(t("stored its new broker credential"));
    case "alert.rule.create": {
      const hooks = Array.isArray(d.webhooks) ? d.webhooks.map(String) : [];
      return done(
        t(`created the alert rule ${str("name") ?? "?"}`),
        ...(str("condition") ? [t(": "), { code: clip(str("condition")!) }] : []),
        ...(hooks.length ? [t(`, notifying ${hooks.join(", ")}`)] : []),
      );
    }
    case "alert.rule.delete":
      return done(t(`deleted the alert rule ${str("name") ?? "?"}`));
    case "alert.silence.create": {
      const until = str("until");
      const comment = str("comment");
      return done(
        t(`silenced the alert rule ${str("rule") ?? "?"}${until ? ` until ${when(until)}` : ""}`),
        ...(comment ? [t(` (${comment})`)] : []),
      );
    }
    case "alert.silence.end":
      return done(t(`ended the silence of the alert rule ${str("rule") ?? "?"}`));
    case "webhook.create":
      return done(
        t(`created the webhook ${str("name") ?? "?"}`),
        ...(str("url") ? [t(" to "), { code: clip(str("url")!) }] : []),
      );
    case "webhook.delete": {
      const changed = Array.isArray(d.rulesChanged) ? d.rulesChanged.map(String) : [];
      return done(
        t(`deleted the webhook ${str("name") ?? "?"}`),
        ...(changed.length ? [t(` (removed from ${changed.join(", ")})`)] : []),
      );
    }
    case "webhook.test":
      return done(t(`sent a test notification to the webhook ${str("name") ?? "?"}`));
    case "enrollment-token.create": {
      const uses = num("uses");
      const labels = (d.labels ?? {}) as Record<string, unknown>;
      const expires = str("expiresAt");
      const what = [
        uses !== undefined ? `${plural(uses, "use")}` : "",
        expires ? `expires ${when(expires)}` : "",
        d.autoAccept === true ? "devices accepted automatically" : "",
        Object.keys(labels).length
          ? `labels ${Object.entries(labels)
              .map(([k, v]) => `${k}=${String(v)}`)
              .join(", ")}`
          : "",
      ].filter(Boolean);
      return done(
        t(`created enrollment token${tokenNo(d.tokenId)}${what.length ? ` (${what.join(", ")})` : ""}`),
      );
    }
    case "enrollment-token.delete":
      return done(t(`deleted enrollment token${tokenNo(d.tokenId)}`));
    case "user.grant": {
      const user = str("username") ?? "a user";
      const role = str("role") ?? "?";
      const from = str("from");
      if (d.created === true) return done(t(`created the user ${user} as ${role}`));
      if (from && from !== role) return done(t(`changed the role of ${user} from ${from} to ${role}`));
      if (from === role) return done(t(`kept ${user} as ${role}`));
      return done(t(`made ${user} ${article(role)} ${role}`));
    }
    case "user.remove":
      return done(t(`removed ${str("username") ?? "a user"} from the project`));
    case "user.revoke-access": {
      const sessions = num("sessions");
      const tokens = num("apiTokens");
      const what =
        sessions !== undefined && tokens !== undefined
          ? ` (${plural(sessions, "sign-in")} ended, ${plural(tokens, "API token")} revoked)`
          : "";
      return done(t(`revoked all access of ${str("username") ?? "a user"}${what}`));
    }
    case "project.create":
      return done(t(`created the project ${str("name") ?? ""}`.trimEnd()));
    case "project.delete":
      return done(t(`deleted the project ${str("name") ?? ""}`.trimEnd()));
    case "project.exec-users": {
      const users = Array.isArray(d.execUsers) ? d.execUsers.map(String) : [];
      return done(
        t(
          users.length
            ? `let commands run as ${users.join(", ")}`
            : "cleared the exec users (commands run as the agent's own user only)",
        ),
      );
    }
    case "api-token.create": {
      const name = str("name");
      const expires = str("expiresAt");
      return done(
        t(
          `created the API token ${name ? `“${name}”` : `#${num("id") ?? "?"}`}${expires ? ` (expires ${when(expires)})` : " (no expiry)"}`,
        ),
      );
    }
    case "api-token.revoke": {
      const name = str("name");
      return done(t(`revoked the API token ${name ? `“${name}”` : `#${num("id") ?? "?"}`}`));
    }
    case "ssh-key.add":
    case "ssh-key.remove": {
      const comment = str("comment");
      return done(
        t(
          `${e.action === "ssh-key.add" ? "added" : "removed"} the SSH key ${fingerprint ?? "?"}${comment ? ` (${comment})` : ""}`,
        ),
      );
    }
    case "session.start":
    case "session.end": {
      // Tunnel sessions (docs/protocol.md §17): a shell, a command in a terminal, a port forward.
      const kind = str("kind");
      const target = str("target");
      const runAs = str("runAs");
      const via = str("via");
      const what =
        kind === "forward"
          ? [t("a port forward to "), { code: target ?? "?" }, t(" on "), device]
          : kind === "command"
            ? [t("a terminal running "), { code: clip(target ?? "?") }, t(" on "), device]
            : [t("a shell on "), device];
      if (e.action === "session.start")
        return done(
          t("opened "),
          ...what,
          ...(runAs ? [t(` as ${runAs}`)] : []),
          ...(via ? [t(` (${via === "console" ? "web terminal" : via})`)] : []),
        );
      const reason = str("endReason");
      const code = num("exitCode");
      const ms = num("durationMs");
      const how =
        reason === "exited"
          ? code !== undefined
            ? `exited with code ${code}`
            : `killed by SIG${str("signal") ?? "?"}`
          : reason
            ? (SESSION_END_WORDS[reason] ?? reason)
            : "";
      const parts = [how, ms !== undefined ? `after ${fmtSpan(ms / 1000)}` : ""].filter(Boolean);
      return done(
        t("ended "),
        ...(kind === "forward"
          ? [t("a port forward on "), device]
          : [t(kind === "command" ? "a terminal on " : "a shell on "), device]),
        ...(parts.length ? [t(` (${parts.join(", ")})`)] : []),
      );
    }
    case "project.tunnels": {
      const allow = Array.isArray(d.forwardAllow) ? d.forwardAllow.map(String) : [];
      return done(
        t(
          `set tunnel settings: recording ${d.record === true ? "on" : "off"}, port forwards to ${allow.length ? allow.join(", ") : "nowhere"}`,
        ),
      );
    }
    case "config.change": {
      const changed = Array.isArray(d.changed) ? d.changed.map(String) : [];
      const message = str("message");
      return done(
        t(`changed the configuration of ${layerWords(d)}${revWords(num("revision"))}`),
        ...(changed.length ? [t(`: ${listWords(changed)}`)] : []),
        ...(message ? [t(` (“${clip(message)}”)`)] : []),
      );
    }
    case "config.rollback": {
      const restored = num("restored");
      return done(
        t(
          `rolled back the configuration of ${layerWords(d)}${restored !== undefined ? ` to revision ${restored}` : ""}${revWords(num("revision"), "as revision")}`,
        ),
      );
    }
    case "config.group.create":
    case "config.group.update":
    case "config.group.delete": {
      const group = str("group") ?? str("name") ?? "?";
      const selector = str("selector");
      const priority = num("priority");
      const what = [
        selector ? `selector ${selector}` : "",
        priority !== undefined ? `priority ${priority}` : "",
      ]
        .filter(Boolean)
        .join(", ");
      const verb =
        e.action === "config.group.create"
          ? "created"
          : e.action === "config.group.update"
            ? "changed"
            : "deleted";
      return done(
        t(
          `${verb} the configuration group ${group}${what && verb !== "deleted" ? ` (${what})` : ""}${revWords(num("revision"))}`,
        ),
      );
    }
    case "config.schema.set":
      return done(t("set the project's configuration schema"));
    case "config.schema.clear":
      return done(t("removed the project's configuration schema"));
    case "config.rollout.pause":
    case "config.rollout.resume":
    case "config.rollout.abort": {
      const verb = e.action.slice("config.rollout.".length);
      const past = verb === "pause" ? "paused" : verb === "resume" ? "resumed" : "aborted";
      const id = str("rollout");
      const layer = str("layer") ?? str("layerLabel");
      return done(
        t(
          `${past} the configuration rollout${id ? ` ${id}` : ""}${layer ? ` of ${layerWords(d)}` : ""}${revWords(num("revision"))}`,
        ),
      );
    }
    case "config.report-refused": {
      const rev = num("rev") ?? num("revision");
      const hash = str("hash");
      return done(
        t(
          `reported configuration revision ${rev ?? "?"}${hash ? ` (hash ${hash.slice(0, 12)})` : ""}, which it was never sent; the report was refused`,
        ),
        ...(e.deviceId && !actorDevice ? [t(" for "), device] : []),
      );
    }
    default:
      return done(t(`did ${e.action}`), ...(e.deviceId ? [t(" on "), device] : []));
  }
}

/** The whole sentence as plain text: "alice ran `uptime` on robot-7". */
export function auditText(e: Entry, o: AuditTextOptions = {}): string {
  const s = auditSentence(e, o);
  return `${s.actor} ${partsText(s.parts)}`;
}

/** The parts as plain text (code in backticks, a command by its short id). */
export function partsText(parts: AuditPart[]): string {
  return parts
    .map((p) =>
      "text" in p
        ? p.text
        : "code" in p
          ? `\`${p.code}\``
          : "device" in p
            ? p.device
            : p.command
              ? `command ${shortId(p.command)}`
              : "a command",
    )
    .join("");
}

/** How a tunnel session ended, in words (the session.end sentence). */
const SESSION_END_WORDS: Record<string, string> = {
  closed: "closed",
  "device-gone": "the device went away",
  revoked: "access revoked",
  idle: "idle timeout",
  "max-length": "maximum length reached",
  "server-stopped": "the server stopped",
  failed: "failed",
};

/** The action names the server writes today, by topic (for filters). */
export const AUDIT_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  devices: [
    "device.enroll",
    "device.accept",
    "device.reject",
    "device.revoke",
    "device.delete",
    "device.rename",
    "device.label",
    "device.rotate-credential",
    "device.credential-applied",
  ],
  commands: ["command.run", "command.cancel"],
  "enrollment tokens": ["enrollment-token.create", "enrollment-token.delete"],
  users: ["user.grant", "user.remove", "user.revoke-access"],
  projects: ["project.create", "project.delete", "project.exec-users", "project.tunnels"],
  sessions: ["session.start", "session.end"],
  "API tokens": ["api-token.create", "api-token.revoke"],
  "SSH keys": ["ssh-key.add", "ssh-key.remove"],
  alerts: ["alert.rule.create", "alert.rule.delete", "alert.silence.create", "alert.silence.end"],
  webhooks: ["webhook.create", "webhook.delete", "webhook.test"],
  configuration: [
    "config.change",
    "config.rollback",
    "config.group.create",
    "config.group.update",
    "config.group.delete",
    "config.schema.set",
    "config.schema.clear",
    "config.rollout.pause",
    "config.rollout.resume",
    "config.rollout.abort",
    "config.report-refused",
  ],
};

/** A configuration layer in words: "the project defaults", "group site-tokyo", "device robot-7". */
function layerWords(d: Record<string, unknown>): string {
  if (typeof d.layerLabel === "string" && d.layerLabel) return d.layerLabel;
  const ref = typeof d.layer === "string" ? d.layer : "";
  if (ref === "defaults") return "the project defaults";
  const m = /^(group|device):(.+)$/.exec(ref);
  if (m) return `${m[1]} ${m[2]}`;
  return ref || "a layer";
}

function revWords(rev: number | undefined, lead = "revision"): string {
  return rev !== undefined ? ` (${lead} ${rev})` : "";
}

/** "a, b and 3 more". */
function listWords(items: string[], max = 6): string {
  return items.length > max
    ? `${items.slice(0, max).join(", ")} and ${items.length - max} more`
    : items.join(", ");
}

function merge(parts: AuditPart[]): AuditPart[] {
  const out: AuditPart[] = [];
  for (const p of parts) {
    const last = out[out.length - 1];
    if ("text" in p && !p.text) continue;
    if ("text" in p && last && "text" in last) out[out.length - 1] = { text: last.text + p.text };
    else out.push(p);
  }
  return out;
}

function clip(s: string): string {
  return s.length > MAX_CODE ? `${s.slice(0, MAX_CODE - 1)}…` : s;
}

function article(word: string): string {
  return /^[aeiou]/i.test(word) ? "an" : "a";
}

function tokenNo(id: unknown): string {
  return typeof id === "number" ? ` #${id}` : "";
}

function shortId(id: string): string {
  return id.length > 12 ? `${id.slice(0, 12)}…` : id;
}

/** A stored instant as a short UTC time: "2026-05-01 12:00 UTC" (the same on every screen). */
function utc(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return `${new Date(t).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}
