import type { DownHandlers } from "../handler-types.js";
import { ack } from "./ack.js";
import { credentialRotate } from "./credential-rotate.js";
import { echo } from "./echo.js";
import { execAck } from "./exec-ack.js";
import { execCancel } from "./exec-cancel.js";
import { execStart } from "./exec-start.js";
import { ping } from "./ping.js";

/** A missing handler for a downstream message type fails to compile. */
export const downHandlers: DownHandlers = {
  ping,
  ack,
  echo,
  "credential.rotate": credentialRotate,
  "exec.start": execStart,
  "exec.cancel": execCancel,
  "exec.ack": execAck,
};
