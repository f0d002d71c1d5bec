/** The device-page panels of every feature, handed down from App (src/routes.ts collects them). */
import { createContext, useContext } from "react";
import type { DevicePanel } from "./features/feature";

const DevicePanelsContext = createContext<readonly DevicePanel[]>([]);
export const DevicePanelsProvider = DevicePanelsContext.Provider;

export function useDevicePanels(): readonly DevicePanel[] {
  return useContext(DevicePanelsContext);
}
