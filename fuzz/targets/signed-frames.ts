/**
 * Signed frames (docs/protocol.md §10): Will (device-signed, read by the server from the
 * broker), RekeyRequest and Reject (server-signed, read by the agent). Every input goes
 * through all three verifiers. Contract: ProtocolError only.
 */
import {
  encodeReject,
  encodeRekeyRequest,
  encodeWill,
  ProtocolError,
  verifyReject,
  verifyRekeyRequest,
  verifyWill,
} from "@tether/protocol";
import type { Target } from "../lib.js";
import { DEVICE_ID, deviceSign, handshake, serverSign } from "./keys.js";

export const signedFrames: Target = {
  name: "signed-frames",
  what: "verifyWill, verifyRekeyRequest, verifyReject",
  seeds() {
    const init = handshake().init;
    return [
      encodeWill({ deviceId: DEVICE_ID, connId: Buffer.alloc(16, 9), signKey: deviceSign.privateKey }),
      encodeRekeyRequest({ deviceId: DEVICE_ID, seq: 42n, signKey: serverSign.privateKey }),
      encodeReject({
        deviceId: DEVICE_ID,
        code: "TETHER_ERR_UNSUPPORTED_VERSION",
        message: "protocol version 9 not supported",
        init,
        signKey: serverSign.privateKey,
      }),
    ];
  },
  dictionary: [
    '"init"',
    '"supportedVersions"',
    '"code"',
    "null",
    "[]",
    "{}",
    "\x01\x04",
    "\x01\x05",
    "\x01\x06",
  ],
  run(input) {
    for (const verify of [
      () => verifyWill(input, DEVICE_ID, deviceSign.publicKey),
      () => verifyRekeyRequest(input, DEVICE_ID, serverSign.publicKey),
      () => verifyReject(input, DEVICE_ID, serverSign.publicKey),
    ]) {
      try {
        verify();
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
      }
    }
  },
  expected: (err) => err instanceof ProtocolError,
};
