/**
 * tether webhooks (docs/protocol.md §16): where alert notifications go (a signed JSON POST in
 * the Alertmanager webhook shape), a test delivery, the delivery log.
 */
import { readFileSync } from "node:fs";
import { type WebhookDelivery, WEBHOOK_NAME, webhooksApi } from "@tether/sdk";
import type { Command } from "commander";
import { type Ctx, client, printJson, printList } from "../context.js";
import { escapeControl } from "../escape.js";
import { CliError, EXIT } from "../io.js";
import { localTime } from "./alerts.js";

const usage = (m: string) => new CliError(m, EXIT.usage);

const HELP = `
Examples:
  tether webhooks create ops --url https://hooks.example.com/tether
  tether webhooks create pager --url https://pager.example.com/in --secret-file ./pager.secret
  tether webhooks test ops                  one test request now: "delivered: HTTP 200 in 1 attempt"
  tether webhooks deliveries ops            the delivery log, newest first
  tether alerts rules create gone --offline 5m --webhook ops

Each notification is a POST of JSON in the Prometheus Alertmanager webhook shape (version 4),
signed: X-Tether-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
Verify it with the secret: the server generates one when you give no --secret-file, and it is
printed once. Redirects are not followed; failures are retried with a growing pause.

Exit codes: 0 ok, 1 a test delivery failed or the server refused (a bad URL, too many
webhooks), 2 usage, 3 not allowed, 4 no such webhook, 255 the server unreachable.`;

export function parseWebhookName(s: string): string {
  if (!new RegExp(WEBHOOK_NAME).test(s))
    throw usage(
      `bad webhook name ${JSON.stringify(s)}: letters, digits, . _ - (1-63, not starting with . _ -)`,
    );
  return s;
}

export function parseWebhookUrl(s: string): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw usage(`--url must be an http:// or https:// URL, got ${JSON.stringify(s)}`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:")
    throw usage(`--url must be an http:// or https:// URL, got ${JSON.stringify(s)}`);
  if (s.length > 2048) throw usage("--url: at most 2048 characters");
  return s;
}

/** The secret in a file: its text without the trailing newline, 16-512 characters. */
export function readSecretFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw usage(`cannot read --secret-file ${path}: ${(err as Error).message}`);
  }
  const secret = text.replace(/\r?\n$/, "");
  if (secret.length < 16 || secret.length > 512)
    throw usage(`the secret in ${path} must be 16-512 characters, has ${secret.length}`);
  if (/[\r\n]/.test(secret)) throw usage(`the secret in ${path} must be one line`);
  return secret;
}

const attempts = (n: number) => `${n} attempt${n === 1 ? "" : "s"}`;

/** A delivery's outcome in one line, and whether it succeeded. */
export function deliveryOutcome(d: WebhookDelivery): { ok: boolean; text: string } {
  const http = d.httpStatus !== null ? `HTTP ${d.httpStatus}` : "";
  const err = d.lastError ? escapeControl(d.lastError) : "";
  if (d.status === "delivered")
    return { ok: true, text: `delivered: ${http || "ok"} in ${attempts(d.attempts)}` };
  const why = [http, err].filter(Boolean).join(": ") || "no answer";
  if (d.status === "pending")
    return { ok: false, text: `not delivered yet (retrying) after ${attempts(d.attempts)}: ${why}` };
  return { ok: false, text: `failed after ${attempts(d.attempts)}: ${why}` };
}

export function registerWebhooks(program: Command, ctx: Ctx): void {
  const hooks = program
    .command("webhooks")
    .alias("webhook")
    .description("where alert notifications go: create, list, delete, test, delivery log")
    .addHelpText("after", HELP);

  hooks
    .command("create")
    .description("add a webhook (the secret that signs its requests is printed once if generated)")
    .argument("<name>", "webhook name: letters, digits, . _ - (1-63)")
    .requiredOption("--url <url>", "where to POST notifications (https:// recommended)")
    .option(
      "--secret-file <file>",
      "the signing secret (16-512 characters) from this file; default: generated",
    )
    .option("--json", "print the webhook as JSON (with the generated secret)")
    .addHelpText("after", HELP)
    .action(async (name: string, o: { url: string; secretFile?: string; json?: boolean }, cmd: Command) => {
      parseWebhookName(name);
      const url = parseWebhookUrl(o.url);
      const secret = o.secretFile !== undefined ? readSecretFile(o.secretFile) : undefined;
      const w = await webhooksApi(client(ctx, cmd)).create({ name, url, ...(secret ? { secret } : {}) });
      if (o.json) return printJson(ctx, w);
      ctx.io.stdout(`created webhook ${escapeControl(w.name)} -> ${escapeControl(w.url)}\n`);
      if (w.secret !== undefined)
        ctx.io.stdout(
          `secret: ${w.secret}\nKeep this secret: it verifies the X-Tether-Signature of each request, and it will not be shown again.\n`,
        );
    });

  hooks
    .command("list")
    .alias("ls")
    .description("the webhooks and their last delivery")
    .option("--json", "print a JSON array of the webhooks")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const list = await webhooksApi(client(ctx, cmd)).list();
      printList(
        ctx,
        o.json,
        list,
        ["name", "url", "last delivery", "created"],
        (w) => [
          w.name,
          w.url,
          w.lastDelivery ? `${w.lastDelivery.status} ${localTime(w.lastDelivery.at)}` : "never",
          localTime(w.createdAt),
        ],
        "no webhooks (add one: tether webhooks create NAME --url URL)",
      );
    });

  hooks
    .command("delete")
    .alias("rm")
    .description("delete a webhook (rules naming it no longer notify it)")
    .argument("<name>", "webhook name")
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await webhooksApi(client(ctx, cmd)).delete(name);
      ctx.io.stdout(`deleted webhook ${escapeControl(name)}\n`);
    });

  hooks
    .command("test")
    .description("send a test notification now and print the outcome (exit 1 if it failed)")
    .argument("<name>", "webhook name")
    .option("--json", "print the delivery as JSON")
    .action(async (name: string, o: { json?: boolean }, cmd: Command) => {
      const d = await webhooksApi(client(ctx, cmd)).test(name);
      const out = deliveryOutcome(d);
      if (o.json) printJson(ctx, d);
      else ctx.io.stdout(`${out.text}\n`);
      if (!out.ok) throw new CliError(o.json ? `test delivery to ${name} ${out.text}` : "", EXIT.generic);
    });

  hooks
    .command("deliveries")
    .description("a webhook's delivery log, newest first")
    .argument("<name>", "webhook name")
    .option("--json", "print a JSON array of the deliveries")
    .action(async (name: string, o: { json?: boolean }, cmd: Command) => {
      const list = await webhooksApi(client(ctx, cmd)).deliveries(name);
      printList(
        ctx,
        o.json,
        list,
        ["time", "event", "rule", "device", "status", "attempts", "http", "error"],
        (d) => [
          localTime(d.createdAt),
          d.event,
          d.rule,
          d.device,
          d.status,
          d.attempts,
          d.httpStatus,
          d.lastError,
        ],
        `no deliveries to ${escapeControl(name)} yet`,
      );
    });
}
