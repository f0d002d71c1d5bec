/** Remote command execution: fleet runs and history, a command's page, a device's Run panel. */
import type { Feature } from "../feature";
import { CommandPage } from "./CommandPage";
import { CommandsPage } from "./CommandsPage";
import { DeviceCommands } from "./DeviceCommands";

export const exec: Feature = {
  id: "exec",
  minRole: "viewer",
  nav: { label: "Commands", href: "#/commands" },
  routes: [
    { path: "commands", render: () => <CommandsPage /> },
    { path: "commands/:id", render: ({ id }) => <CommandPage key={id} id={id} /> },
  ],
  devicePanels: [
    { id: "commands", order: 10, minRole: "viewer", render: (d) => <DeviceCommands device={d} /> },
  ],
};
