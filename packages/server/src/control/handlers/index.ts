import type { UpHandlerMap } from "../handler-types.js";
import { ack } from "./ack.js";
import { bye } from "./bye.js";
import type { CoreParts } from "./core.js";
import { facts } from "./facts.js";
import { hello } from "./hello.js";

export type { CoreParts } from "./core.js";

/** The upstream message types the transport handles itself (docs/protocol.md §7–9). */
export type CoreUpType = "hello" | "ack" | "bye" | "facts";

export const coreHandlers = (p: CoreParts): UpHandlerMap<CoreUpType> => ({
  hello: hello(p),
  ack: ack(p),
  bye: bye(p),
  facts: facts(),
});
