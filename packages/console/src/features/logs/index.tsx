/** Logs: the fleet's log search (a page of its own) and a device's live tail (a device-page panel). */
import type { Feature } from "../feature";
import { DeviceLogs } from "./DeviceLogs";
import { LogsPage } from "./LogsPage";

export const logs: Feature = {
  id: "logs",
  minRole: "viewer",
  nav: { label: "Logs", href: "#/logs" },
  routes: [{ path: "logs", render: () => <LogsPage /> }],
  devicePanels: [
    // After the metrics (5), before commands (10): what the device said is the next question.
    { id: "logs", order: 7, minRole: "viewer", render: (d) => <DeviceLogs device={d} /> },
  ],
};
