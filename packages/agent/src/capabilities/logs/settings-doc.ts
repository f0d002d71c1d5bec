/**
 * The `tether.logs.*` keys as a Markdown table, so docs/protocol.md §15 can be generated from
 * (and a test can check it against) LOGS_SETTING_KEYS, the one list.
 */
import { LOGS_SETTING_KEYS } from "./settings.js";

const cell = (s: string) => s.replace(/\|/g, "\\|");

export function logsSettingsMarkdown(): string {
  const rows = LOGS_SETTING_KEYS.map((k) => {
    const who = k.deviceOnly ? "device only" : "device, remote";
    return `| \`${k.key}\` | ${cell(k.type)} | \`${JSON.stringify(k.default)}\` | ${k.flag ? `\`${k.flag}\`` : "—"} | ${who} | ${cell(k.description)} |`;
  });
  return [
    "| key | type | default | flag | set by | meaning |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}
