/** What the rest of the console shows of alerts: the firing badge of the device list, state words. */
import { useEffect, useRef, useState } from "react";
import { type Alert, type AlertState, alertsApi } from "./api";

/** What an operator calls a state change. */
export const STATE_WORD: Record<AlertState, string> = {
  pending: "pending",
  firing: "firing",
  resolved: "resolved",
};

/**
 * The firing alerts per device id, loaded again whenever `tick` changes (the device list passes
 * its own poll time, so the badges refresh with the list). Keeps the last answer on a failure
 * (no badge flicker); null until the first answer.
 */
export function useFiringAlerts(tick: unknown): Map<string, Alert[]> | null {
  const [byDevice, setByDevice] = useState<Map<string, Alert[]> | null>(null);
  const seq = useRef(0);
  // biome-ignore lint/correctness/useExhaustiveDependencies: tick is what triggers the reload
  useEffect(() => {
    const mine = ++seq.current;
    alertsApi.list({ state: "firing" }).then(
      (alerts) => {
        if (mine !== seq.current) return;
        const m = new Map<string, Alert[]>();
        for (const a of alerts) {
          if (a.state !== "firing") continue;
          const list = m.get(a.deviceId) ?? [];
          list.push(a);
          m.set(a.deviceId, list);
        }
        setByDevice(m);
      },
      () => {
        // The list shows devices either way; the badges stay as last known.
      },
    );
  }, [tick]);
  return byDevice;
}

/** "2 alerts firing" beside a device's name; the rules in the tooltip; links to the Alerts page. */
export function FiringBadge({ alerts }: { alerts: Alert[] | undefined }) {
  if (!alerts || alerts.length === 0) return null;
  const n = alerts.length;
  return (
    <a
      className="badge alert-firing-badge"
      href="#/alerts"
      title={alerts.map((a) => `${a.rule}: ${a.summary}`).join("\n")}
      data-firing={n}
    >
      {n} {n === 1 ? "alert" : "alerts"} firing
    </a>
  );
}
