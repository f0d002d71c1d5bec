/**
 * Terminals (docs/protocol.md §17): the device page's Terminal section, the web terminal
 * (xterm.js over the terminal WebSocket), watching a live session, the sessions list and
 * playback of recordings. Project settings for recording and forwarding are under Settings.
 */
import type { Feature } from "../feature";
import { PlaybackPage } from "./PlaybackPage";
import { SessionsPage } from "./SessionsPage";
import { DeviceTerminalPage, WatchPage } from "./TerminalPage";
import { TerminalPanel } from "./TerminalPanel";
import "./terminal.css";

const OPERATORS_ONLY = "A terminal needs the operator role in this project. Ask an admin to change yours.";

export const terminal: Feature = {
  id: "terminal",
  minRole: "viewer",
  nav: { label: "Sessions", href: "#/sessions" },
  routes: [
    { path: "sessions", render: () => <SessionsPage /> },
    {
      path: "devices/:id/terminal",
      minRole: "operator",
      forbidden: OPERATORS_ONLY,
      render: ({ id }) => <DeviceTerminalPage key={id} id={id} />,
    },
    {
      path: "sessions/:id/watch",
      minRole: "operator",
      forbidden: OPERATORS_ONLY,
      render: ({ id }) => <WatchPage key={id} id={id} />,
    },
    {
      path: "sessions/:id/play",
      minRole: "operator",
      forbidden:
        "Recordings hold what the terminal showed; playing them needs the operator role in this project.",
      render: ({ id }) => <PlaybackPage key={id} id={id} />,
    },
  ],
  devicePanels: [
    // First among the panels: when a robot misbehaves, a shell is the first thing wanted.
    { id: "terminal", order: 3, minRole: "viewer", render: (d) => <TerminalPanel device={d} /> },
  ],
};
