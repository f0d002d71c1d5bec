/**
 * The settings keys as a Markdown table, so docs/protocol.md §14 can be generated from (and a
 * test can check it against) METRICS_SETTING_KEYS, the one list.
 */
import { METRICS_SETTING_KEYS } from "./settings.js";

const cell = (s: string) => s.replace(/\|/g, "\\|");

export function metricsSettingsMarkdown(): string {
  const rows = METRICS_SETTING_KEYS.map((k) => {
    const def = k.name === "bufferBytes" ? '"64MiB"' : JSON.stringify(k.default);
    const who = k.deviceOnly ? "device only" : "device, remote";
    return `| \`${k.key}\` | ${cell(k.type)} | \`${def}\` | ${k.flag ? `\`${k.flag}\`` : "—"} | ${who} | ${cell(k.description)} |`;
  });
  return [
    "| key | type | default | flag | set by | meaning |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}
