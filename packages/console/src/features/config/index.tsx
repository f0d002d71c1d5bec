/** Remote configuration: the fleet view, a layer's page, a rollout's page, a device's panel. */
import type { Feature } from "../feature";
import "./config.css";
import { DeviceConfig } from "./DeviceConfig";
import { ConfigFleetPage } from "./FleetPage";
import { LayerPage } from "./LayerPage";
import { RolloutPage } from "./RolloutPage";

export const config: Feature = {
  id: "config",
  minRole: "viewer",
  nav: { label: "Configuration", href: "#/config" },
  routes: [
    { path: "config", render: () => <ConfigFleetPage /> },
    { path: "config/layers/:ref", render: ({ ref }) => <LayerPage key={ref} layerRef={ref} /> },
    { path: "config/rollouts/:id", render: ({ id }) => <RolloutPage key={id} id={id} /> },
  ],
  devicePanels: [
    // After metrics and logs, before commands: what the device runs with.
    { id: "config", order: 8, minRole: "viewer", render: (d) => <DeviceConfig device={d} /> },
  ],
};
