/** Metrics: the fleet's key figures (a page of its own) and a device's charts (a device-page panel). */
import type { Feature } from "../feature";
import { DeviceMetrics } from "./DeviceMetrics";
import { FleetMetricsPage } from "./FleetMetricsPage";

export const metrics: Feature = {
  id: "metrics",
  minRole: "viewer",
  nav: { label: "Metrics", href: "#/metrics" },
  routes: [{ path: "metrics", render: () => <FleetMetricsPage /> }],
  devicePanels: [
    // First of the panels (commands are 10): how the device is doing is what its page is opened for.
    { id: "metrics", order: 5, minRole: "viewer", render: (d) => <DeviceMetrics device={d} /> },
  ],
};
