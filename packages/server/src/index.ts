export { DEFAULT_PROJECT } from "./accounts.js";
export * from "./admin.js";
export * from "./create-server.js";
export * from "./paths.js";
export { VERSION } from "./version.js";
export { Devices } from "./devices.js";
export type { Store } from "./store/db.js";
