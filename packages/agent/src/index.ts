export * from "./agent.js";
export * from "./backoff.js";
export * from "./control-client.js";
export * from "./enroll.js";
export * from "./facts.js";
export * from "./identity.js";
export * from "./journal.js";
export { AGENT_VERSION } from "./version.js";
