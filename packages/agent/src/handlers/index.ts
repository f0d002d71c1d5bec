import type { DownHandlers } from "../handler-types.js";
import { ack } from "./ack.js";
import { credentialRotate } from "./credential-rotate.js";
import { echo } from "./echo.js";
import { ping } from "./ping.js";

/** A missing handler for a downstream message type fails to compile. */
export const downHandlers: DownHandlers = { ping, ack, echo, "credential.rotate": credentialRotate };
