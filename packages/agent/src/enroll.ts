/**
 * Enrollment from the device side (docs/protocol.md §6): fetch the server's signed info and
 * check it against the fingerprint pinned in the token; send a signed request over TLS
 * verified with the CA from that info; wait with signed polls while pending.
 */
import { randomBytes } from "node:crypto";
import {
  ed25519Sign,
  ed25519Verify,
  type EnrollRequest,
  type EnrollResponse,
  EnrollResponse as EnrollResponseSchema,
  fingerprint,
  type Facts,
  LABEL_ENROLL,
  LABEL_INFO,
  LABEL_POLL,
  LABEL_RESPONSE,
  parseEnrollToken,
  type PollRequest,
  type SignedServerInfo,
  SignedServerInfo as SignedServerInfoSchema,
  sha256,
  signedBytes,
  validator,
} from "@tether/protocol";
import type { Logger } from "pino";
import { requestJson } from "./https-json.js";
import type { AgentKeys, Identity } from "./identity.js";

const b64u = (b: Buffer) => b.toString("base64url");
const infoV = validator(SignedServerInfoSchema);
const respV = validator(EnrollResponseSchema);

export class EnrollError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** Worth retrying (network trouble) rather than a refusal. */
    readonly transient = false,
  ) {
    super(message);
  }
}

/**
 * What the operator compares before accepting a pending device: the fingerprint of its
 * Ed25519 key, as the server shows it (`fingerprint` in the API, the console and
 * `tether devices show`).
 */
export function pendingLine(name: string, keyFingerprint: string): string {
  return `waiting for an operator to accept it — key fingerprint ${keyFingerprint}; compare it with the console or tether devices show ${name}`;
}

export async function fetchServerInfo(url: string, pinnedFingerprint: string): Promise<SignedServerInfo> {
  const raw = await requestJson<unknown>("GET", `${url}/api/v1/enroll/info`, undefined, { insecure: true });
  if (!infoV.check(raw)) throw new EnrollError("BAD_INFO", "the server's identity answer is malformed");
  const serverKey = Buffer.from(raw.info.serverSignKey, "base64url");
  if (fingerprint(serverKey) !== pinnedFingerprint) {
    throw new EnrollError(
      "WRONG_SERVER",
      `the server at ${url} is not the one the token was made for (key fingerprint ${fingerprint(serverKey)}, token pins ${pinnedFingerprint})`,
    );
  }
  if (!ed25519Verify(serverKey, signedBytes(LABEL_INFO, raw.info), Buffer.from(raw.signature, "base64url"))) {
    throw new EnrollError("BAD_SIGNATURE", "the server's identity answer is not signed by its key");
  }
  return raw;
}

function checkResponse(raw: unknown, serverSignKey: string, signKey: Buffer, nonce?: string): EnrollResponse {
  if (!respV.check(raw)) throw new EnrollError("BAD_RESPONSE", "the enrollment answer is malformed");
  const ok = ed25519Verify(
    Buffer.from(serverSignKey, "base64url"),
    signedBytes(LABEL_RESPONSE, raw.response),
    Buffer.from(raw.signature, "base64url"),
  );
  if (!ok)
    throw new EnrollError("BAD_SIGNATURE", "the enrollment answer is not signed by the pinned server key");
  if (raw.response.serverSignKey !== serverSignKey)
    throw new EnrollError("BAD_RESPONSE", "the answer names another server key");
  if (raw.response.signKey !== b64u(signKey))
    throw new EnrollError("BAD_RESPONSE", "the answer is for another device key");
  if (nonce !== undefined && raw.response.nonce !== nonce)
    throw new EnrollError("BAD_RESPONSE", "the poll answer is stale");
  return raw;
}

function toIdentity(
  url: string,
  fp: string,
  info: SignedServerInfo,
  r: EnrollResponse,
  name: string,
): Identity {
  return {
    deviceId: r.response.deviceId,
    shard: r.response.shard,
    state: r.response.state,
    serverUrl: url,
    apiUrl: r.response.apiUrl || url,
    serverFingerprint: fp,
    serverSignKey: info.info.serverSignKey,
    serverNoiseKey: r.response.serverNoiseKey,
    caCert: info.info.caCert,
    name,
    broker: r.response.broker,
    pollSeconds: r.response.pollSeconds,
  };
}

export async function enroll(o: {
  url: string;
  token: string;
  name: string;
  keys: AgentKeys;
  facts: Facts;
  log: Logger;
}): Promise<Identity> {
  const parsed = parseEnrollToken(o.token);
  if (!parsed)
    throw new EnrollError(
      "BAD_TOKEN",
      "the enrollment token is malformed (expected tether1.<fingerprint>.<secret>)",
    );
  const url = o.url.replace(/\/$/, "");
  const info = await fetchServerInfo(url, parsed.fingerprint);
  const request = {
    purpose: LABEL_ENROLL,
    tokenHash: b64u(sha256(o.token.trim())),
    serverFingerprint: parsed.fingerprint,
    signKey: b64u(o.keys.sign.publicKey),
    noiseKey: b64u(o.keys.noise.publicKey),
    name: o.name,
    facts: o.facts,
  } as const;
  const body: EnrollRequest = {
    token: o.token.trim(),
    request,
    signature: b64u(ed25519Sign(o.keys.sign.privateKey, signedBytes(LABEL_ENROLL, request))),
  };
  const raw = await requestJson<unknown>("POST", `${url}/api/v1/enroll`, body, { ca: info.info.caCert });
  const r = checkResponse(raw, info.info.serverSignKey, o.keys.sign.publicKey);
  const { deviceId, state } = r.response;
  const keyFingerprint = fingerprint(o.keys.sign.publicKey);
  o.log.info(
    { deviceId, name: o.name, state, fingerprint: keyFingerprint },
    state === "pending"
      ? `enrolled as ${o.name} (pending): ${pendingLine(o.name, keyFingerprint)}`
      : `enrolled as ${o.name} (${state}); key fingerprint ${keyFingerprint}`,
  );
  return toIdentity(url, parsed.fingerprint, info, r, o.name);
}

/** One signed poll; returns the updated identity. */
export async function poll(id: Identity, keys: AgentKeys): Promise<Identity> {
  const request = {
    purpose: LABEL_POLL,
    deviceId: id.deviceId,
    signKey: b64u(keys.sign.publicKey),
    nonce: b64u(randomBytes(16)),
  } as const;
  const body: PollRequest = {
    request,
    signature: b64u(ed25519Sign(keys.sign.privateKey, signedBytes(LABEL_POLL, request))),
  };
  const raw = await requestJson<unknown>("POST", `${id.serverUrl}/api/v1/enroll/poll`, body, {
    ca: id.caCert,
  });
  const r = checkResponse(raw, id.serverSignKey, keys.sign.publicKey, request.nonce);
  return {
    ...id,
    state: r.response.state,
    broker: r.response.broker ?? id.broker,
    apiUrl: r.response.apiUrl || id.apiUrl,
    pollSeconds: r.response.pollSeconds,
  };
}
