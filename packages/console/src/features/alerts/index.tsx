/** Alerts: firing alerts, history, rules, silences and webhooks (a page), a device's alerts (a panel). */
import type { Feature } from "../feature";
import { AlertsPage } from "./AlertsPage";
import { DeviceAlerts } from "./DeviceAlerts";

export const alerts: Feature = {
  id: "alerts",
  minRole: "viewer",
  nav: { label: "Alerts", href: "#/alerts" },
  routes: [{ path: "alerts", render: () => <AlertsPage /> }],
  devicePanels: [
    // First of all: what is wrong with the device now (nothing is drawn when nothing is).
    { id: "alerts", order: 1, minRole: "viewer", render: (d) => <DeviceAlerts device={d} /> },
  ],
};
