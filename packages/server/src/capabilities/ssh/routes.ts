/**
 * The SSH keys REST API (docs/protocol.md §17.6): each user lists, adds and removes their own
 * keys, whatever their role (whether a key opens a device is decided per device at sign-in).
 * Adding and removing are audited in the caller's project.
 */
import { AddSshKey, SshKey } from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { who } from "../../http/auth.js";
import type { SshKeyRow, SshKeys } from "./key-store.js";

export interface SshRoutesDeps {
  keys: SshKeys;
  /** A key was removed: end the SSH connections it signed in. */
  removed(row: SshKeyRow): Promise<void>;
}

export async function sshRoutes(app: FastifyInstance, d: SshRoutesDeps): Promise<void> {
  app.get(
    "/api/v1/ssh-keys",
    {
      schema: {
        tags: ["ssh-keys"],
        summary: "Your SSH public keys for the SSH gateway",
        response: { 200: Type.Array(SshKey) },
      },
    },
    async (req) => d.keys.list(who(req).userId),
  );

  app.post(
    "/api/v1/ssh-keys",
    {
      schema: {
        tags: ["ssh-keys"],
        summary:
          "Register an SSH public key (one OpenSSH line: ed25519, ecdsa, or rsa of 2048 bits or more; at most 50 per user)",
        body: AddSshKey,
        response: { 201: SshKey },
      },
    },
    async (req, reply) => {
      const k = await d.keys.add(who(req), (req.body as AddSshKey).key);
      reply.code(201);
      return k;
    },
  );

  app.delete(
    "/api/v1/ssh-keys/:fingerprint",
    {
      schema: {
        tags: ["ssh-keys"],
        summary: "Remove one of your SSH keys (SHA256:…, URL-encoded); its open SSH connections end",
        params: Type.Object({ fingerprint: Type.String({ minLength: 1, maxLength: 100 }) }),
      },
    },
    async (req) => {
      const row = await d.keys.remove(who(req), (req.params as { fingerprint: string }).fingerprint);
      await d.removed(row);
      return { ok: true };
    },
  );
}
