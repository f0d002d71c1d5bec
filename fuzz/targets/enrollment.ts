/**
 * Enrollment requests and answers (docs/protocol.md §6) as both ends read them: the protocol
 * validators (EnrollRequest, PollRequest; SignedServerInfo and EnrollResponse on the agent),
 * the device-name rule, and the signature check over canonical JSON that the server does
 * (Enrollment.verifySigned) and the agent does on answers. The HTTP route itself is the
 * `http` target. Contract: SyntaxError (not JSON), TetherError, or the canonical-JSON
 * Error("non-finite number") — never a TypeError.
 */
import {
  canonicalJson,
  checkDeviceName,
  ed25519Sign,
  ed25519Verify,
  EnrollRequest,
  EnrollResponse,
  LABEL_ENROLL,
  LABEL_POLL,
  LABEL_RESPONSE,
  PollRequest,
  SignedServerInfo,
  signedBytes,
  TetherError,
  validator,
} from "@tether/protocol";
import type { Target } from "../lib.js";
import { deviceSign, deviceSigned, enrollBody, key43, serverSign } from "./keys.js";

const enrollV = validator(EnrollRequest);
const pollV = validator(PollRequest);
const infoV = validator(SignedServerInfo);
const responseV = validator(EnrollResponse);
const b64 = (b: Buffer) => b.toString("base64url");

export const enrollment: Target = {
  name: "enrollment",
  what: "EnrollRequest/PollRequest/EnrollResponse validators, name rule, signatures",
  seeds() {
    const p = deviceSigned(LABEL_POLL, {
      purpose: LABEL_POLL,
      deviceId: "dev_0123456789abcdef",
      signKey: b64(deviceSign.publicKey),
      nonce: key43(4),
    });
    const response = {
      purpose: LABEL_RESPONSE,
      deviceId: "dev_0123456789abcdef",
      signKey: b64(deviceSign.publicKey),
      state: "pending",
      shard: 0,
      serverSignKey: b64(serverSign.publicKey),
      serverNoiseKey: key43(6),
      nonce: key43(4),
      pollSeconds: 5,
      apiUrl: "https://127.0.0.1:8443",
    };
    return [
      Buffer.from(JSON.stringify(enrollBody())),
      Buffer.from(JSON.stringify({ request: p.body, signature: p.signature })),
      Buffer.from(
        JSON.stringify({
          response,
          signature: b64(ed25519Sign(serverSign.privateKey, signedBytes(LABEL_RESPONSE, response))),
        }),
      ),
    ];
  },
  dictionary: [
    '"name"',
    '"facts"',
    '"request"',
    '"response"',
    '"signature"',
    '"\\u001b"',
    "null",
    "1e999",
    "[]",
    "{}",
  ],
  run(input) {
    const v: unknown = JSON.parse(input.toString("utf8"));
    if (enrollV.check(v)) {
      try {
        checkDeviceName(v.request.name);
      } catch (err) {
        if (!(err instanceof TetherError)) throw err;
      }
      ed25519Verify(
        Buffer.from(v.request.signKey, "base64url"),
        signedBytes(LABEL_ENROLL, v.request),
        Buffer.from(v.signature, "base64url"),
      );
    }
    if (pollV.check(v))
      ed25519Verify(
        Buffer.from(v.request.signKey, "base64url"),
        signedBytes(LABEL_POLL, v.request),
        Buffer.from(v.signature, "base64url"),
      );
    if (responseV.check(v))
      ed25519Verify(
        serverSign.publicKey,
        signedBytes(LABEL_RESPONSE, v.response),
        Buffer.from(v.signature, "base64url"),
      );
    infoV.check(v);
    // Whatever parsed: canonical JSON (what signatures cover) must not trip over it.
    canonicalJson(v);
  },
  expected: (err) =>
    err instanceof SyntaxError ||
    err instanceof TetherError ||
    (err instanceof Error && err.constructor === Error && err.message === "non-finite number"),
};
