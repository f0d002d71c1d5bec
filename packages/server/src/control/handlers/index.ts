import type { UpHandlers } from "../handler-types.js";
import { ack } from "./ack.js";
import { bye } from "./bye.js";
import { echoReply } from "./echo-reply.js";
import { execOutput } from "./exec-output.js";
import { execResult } from "./exec-result.js";
import { execStarted } from "./exec-started.js";
import { facts } from "./facts.js";
import { hello } from "./hello.js";
import { pong } from "./pong.js";

/** A missing handler for an upstream message type fails to compile. */
export const upHandlers: UpHandlers = {
  hello,
  pong,
  ack,
  bye,
  facts,
  "echo.reply": echoReply,
  "exec.started": execStarted,
  "exec.output": execOutput,
  "exec.result": execResult,
};
