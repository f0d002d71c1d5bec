export * from "./args.js";
export * from "./cli.js";
export * from "./credentials.js";
export { escapeControl } from "./escape.js";
export * from "./io.js";
export * from "./paths.js";
export * from "./table.js";
