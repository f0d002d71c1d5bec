/** Devices: the list, a device's page (details, facts, actions, connection history). */
import type { Feature } from "../feature";
import { Connections } from "./DevicePage";
import { DevicePage } from "./DevicePage";
import { DevicesPage } from "./DevicesPage";

export const devices: Feature = {
  id: "devices",
  minRole: "viewer",
  nav: { label: "Devices", href: "#/devices" },
  routes: [
    { path: "devices", render: () => <DevicesPage /> },
    { path: "devices/:id", render: ({ id }) => <DevicePage key={id} id={id} /> },
  ],
  devicePanels: [
    { id: "connections", order: 100, minRole: "viewer", render: (d) => <Connections id={d.id} /> },
  ],
};
