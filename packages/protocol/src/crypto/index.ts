// End-to-end crypto layer of the Tether wire protocol (docs/protocol.md §4–5, §10).
export * from "./keys.js";
export * from "./noise.js";
export * from "./replay-window.js";
export * from "./frames.js";
export * from "./signed-frames.js";
export * from "./session.js";
