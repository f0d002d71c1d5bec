/**
 * What a capability contributes to the console: its pages (hash routes), its entry in the
 * top bar, the minimum role for both, and optionally panels on a device's page. src/routes.ts
 * collects every feature into the one route table App uses.
 */
import type { Device, Role } from "@tether/sdk";
import type { ReactNode } from "react";

export interface FeatureRoute {
  /** Hash path pattern without "#/": "devices", "devices/:id". */
  path: string;
  render(params: Record<string, string>): ReactNode;
  /** Below this role the page says `forbidden` instead (default: the feature's minRole). */
  minRole?: Role;
  forbidden?: string;
}

export interface NavEntry {
  label: string;
  /** Where the link goes, e.g. "#/devices". */
  href: string;
}

/** A section of a device's page (rendered in `order`, for `minRole` and up). */
export interface DevicePanel {
  id: string;
  order: number;
  minRole: Role;
  render(device: Device): ReactNode;
}

export interface Feature {
  id: string;
  /** Below this role the feature has no nav entry and its routes are forbidden. */
  minRole: Role;
  nav?: NavEntry;
  routes: FeatureRoute[];
  devicePanels?: DevicePanel[];
}
