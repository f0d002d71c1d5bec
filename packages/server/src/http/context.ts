/** What every HTTP plugin receives: the services, passed in (no singletons). */
import type { Accounts, Principal } from "../accounts.js";
import type { Audit } from "../audit.js";
import type { UserChange } from "../capability.js";
import type { RateLimits } from "../config.js";
import type { Presence } from "../control/index.js";
import type { DeviceOps } from "../device-ops.js";
import type { Devices } from "../devices.js";
import type { Enrollment } from "../enrollment.js";
import type { Store } from "../store/db.js";

export interface Services {
  store: Store;
  accounts: Accounts;
  audit: Audit;
  devices: Devices;
  deviceOps: DeviceOps;
  enrollment: Enrollment;
  presence: Presence;
  /** Tell every capability that a user lost access (closes what the user holds open). */
  userChanged(change: UserChange): Promise<void>;
  /** Rate limits on sign-in and enrollment (config.ts DEFAULT_RATE_LIMITS unless configured). */
  rateLimits: RateLimits;
  /** Origins allowed for cookie-authenticated requests besides the request's own host. */
  allowedOrigins: () => string[];
}

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
  }
}
