export * from "./canonical.js";
export * from "./crypto/index.js";
export * from "./enrollment.js";
export * from "./errors.js";
export * from "./messages.js";
export * from "./topics.js";
export * from "./validate.js";
export * from "./api.js";
