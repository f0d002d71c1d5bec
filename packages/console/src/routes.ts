/** The one route table: every feature's pages, top-bar entries and device-page panels. */
import type { Role } from "@tether/sdk";
import { admin } from "./features/admin";
import { alerts } from "./features/alerts";
import { audit } from "./features/audit";
import { config } from "./features/config";
import { devices } from "./features/devices";
import { enrollment } from "./features/enrollment";
import { exec } from "./features/exec";
import { logs } from "./features/logs";
import { metrics } from "./features/metrics";
import { overview } from "./features/overview";
import { terminal } from "./features/terminal";
import type { DevicePanel, Feature, FeatureRoute } from "./features/feature";

/** In top-bar order. */
export const FEATURES: readonly Feature[] = [
  overview,
  devices,
  metrics,
  logs,
  alerts,
  exec,
  terminal,
  config,
  enrollment,
  audit,
  admin,
];

/** Where "#/" (and an empty hash) lands: the fleet overview. */
const DEFAULT_PATH = "/overview";

export interface Match {
  feature: Feature;
  route: FeatureRoute;
  params: Record<string, string>;
  minRole: Role;
}

/** The route of a location hash ("#/devices/dev_1", "#/devices?selector=…"), or null for no page. */
export function matchHash(hash: string): Match | null {
  // The query ("?selector=…&page=2") is the page's own state (ui.tsx useHashQuery).
  const path = hash.replace(/^#/, "").split("?")[0];
  let parts = path.split("/").filter(Boolean);
  if (parts.length === 0) parts = DEFAULT_PATH.split("/").filter(Boolean);
  for (const feature of FEATURES) {
    for (const route of feature.routes) {
      const pattern = route.path.split("/");
      if (pattern.length !== parts.length) continue;
      const params: Record<string, string> = {};
      const ok = pattern.every((p, i) => {
        if (p.startsWith(":")) {
          params[p.slice(1)] = decodeURIComponent(parts[i]);
          return true;
        }
        return p === parts[i];
      });
      if (ok) return { feature, route, params, minRole: route.minRole ?? feature.minRole };
    }
  }
  return null;
}

/** Every feature's device-page panels, in order. */
export const DEVICE_PANELS: readonly DevicePanel[] = FEATURES.flatMap((f) => f.devicePanels ?? []).sort(
  (a, b) => a.order - b.order,
);
