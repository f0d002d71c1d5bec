/**
 * tether ssh-keys (docs/protocol.md §17.6): your SSH public keys for the SSH gateway
 * (`tether server --ssh-listen`), which OpenSSH clients reach as `ssh -p PORT DEVICE@server`.
 */
import { readFileSync } from "node:fs";
import { MAX_SSH_KEYS_PER_USER, SSH_FINGERPRINT_PATTERN, sshKeyKind, sshKeysApi } from "@tether/sdk";
import type { Command } from "commander";
import { type Ctx, client, printJson, printList } from "../context.js";
import { escapeControl } from "../escape.js";
import { CliError, EXIT } from "../io.js";
import { localTime } from "./alerts.js";

/** More than any public key line (an RSA-16384 key is about 2.8 KB). */
const MAX_KEY_FILE = 16 * 1024;

const HELP = `
Examples:
  tether ssh-keys add ~/.ssh/id_ed25519.pub
  cat key.pub | tether ssh-keys add -
  tether ssh-keys list
  tether ssh-keys remove SHA256:hJmyco229R7Ll82Bwk8l85VhxRoo7c1/C0U9qJXNsVE
  ssh -p 2222 robot-1@tether.example.com           a shell on robot-1 (your default project)
  ssh -p 2222 robot-1.lab@tether.example.com uptime   a command on robot-1 in project lab

Keys are yours (any role may register up to ${MAX_SSH_KEYS_PER_USER}); whether one opens a device
is checked when you connect: you need the operator or admin role in the device's project.
Supported: ed25519 (recommended), ecdsa, rsa of 2048 bits or more. Removing a key ends the SSH
connections it opened. The server's host key fingerprint is printed by \`tether server\` at
start and is in its server.json (sshFingerprint).

Exit codes: 0 ok, 1 the server refused (a bad or duplicate key, too many keys), 2 usage,
3 not allowed, 4 no such key, 255 the server unreachable.`;

/** The key line from FILE, or stdin for "-"; a private key is refused here, before it leaves the machine. */
async function readKey(ctx: Ctx, file: string): Promise<string> {
  let text: string;
  if (file === "-") {
    const b = await ctx.io.readStdin(MAX_KEY_FILE + 1);
    if (b.length > MAX_KEY_FILE)
      throw new CliError(`the key on stdin is larger than ${MAX_KEY_FILE} bytes`, EXIT.usage);
    text = b.toString("utf8");
  } else {
    try {
      const b = readFileSync(file);
      if (b.length > MAX_KEY_FILE)
        throw new CliError(`${file} is larger than ${MAX_KEY_FILE} bytes: not a public key`, EXIT.usage);
      text = b.toString("utf8");
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw new CliError(`cannot read ${file}: ${(err as Error).message}`, EXIT.usage);
    }
  }
  if (/PRIVATE KEY/.test(text))
    throw new CliError(
      `${file === "-" ? "stdin holds" : `${file} is`} a private key: give the public key (the .pub file, e.g. ~/.ssh/id_ed25519.pub); nothing was sent`,
      EXIT.usage,
    );
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
  if (lines.length === 0) throw new CliError(`${file === "-" ? "stdin" : file} holds no key`, EXIT.usage);
  if (lines.length > 1)
    throw new CliError(
      `${file === "-" ? "stdin" : file} holds ${lines.length} lines: add one key at a time`,
      EXIT.usage,
    );
  return lines[0]!.trim();
}

export function registerSshKeys(program: Command, ctx: Ctx): void {
  const keys = program
    .command("ssh-keys")
    .alias("ssh-key")
    .description("your SSH public keys for the SSH gateway: add, list, remove")
    .addHelpText("after", HELP);

  keys
    .command("add")
    .description("register an SSH public key (a .pub file, or - for stdin)")
    .argument("<file>", "the public key file (e.g. ~/.ssh/id_ed25519.pub), or - to read stdin")
    .option("--json", "print the key as JSON")
    .action(async (file: string, o: { json?: boolean }, cmd: Command) => {
      const line = await readKey(ctx, file);
      const k = await sshKeysApi(client(ctx, cmd)).add(line);
      if (o.json) return printJson(ctx, k);
      ctx.io.stdout(
        `added ${k.fingerprint} (${sshKeyKind(k)}${k.comment ? `, ${escapeControl(k.comment)}` : ""})\n`,
      );
    });

  keys
    .command("list")
    .alias("ls")
    .description("your SSH keys")
    .option("--json", "print a JSON array of the keys")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const list = await sshKeysApi(client(ctx, cmd)).list();
      printList(
        ctx,
        o.json,
        list,
        ["fingerprint", "type", "comment", "added", "last used"],
        (k) => [
          k.fingerprint,
          sshKeyKind(k),
          k.comment,
          localTime(k.createdAt),
          k.lastUsedAt ? localTime(k.lastUsedAt) : "never",
        ],
        "no SSH keys (add one: tether ssh-keys add ~/.ssh/id_ed25519.pub)",
      );
    });

  keys
    .command("remove")
    .alias("rm")
    .description("remove one of your SSH keys; the SSH connections it opened end")
    .argument("<fingerprint>", "SHA256:… as tether ssh-keys list (or ssh-keygen -lf) prints it")
    .action(async (fingerprint: string, _o: unknown, cmd: Command) => {
      const fp = fingerprint.startsWith("SHA256:") ? fingerprint : `SHA256:${fingerprint}`;
      if (!new RegExp(SSH_FINGERPRINT_PATTERN).test(fp))
        throw new CliError(
          `bad fingerprint ${JSON.stringify(fingerprint)}: expected SHA256: and 43 base64 characters`,
          EXIT.usage,
        );
      await sshKeysApi(client(ctx, cmd)).remove(fp);
      ctx.io.stdout(`removed ${fp}\n`);
    });
}
