/** Device facts reported at every connection (usable in selectors as fact.KEY). */
import { readFileSync } from "node:fs";
import os from "node:os";
import type { Facts } from "@tether/protocol";
import { AGENT_VERSION } from "./version.js";

function osRelease(): string {
  try {
    const t = readFileSync("/etc/os-release", "utf8");
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(t);
    return (m?.[1] ?? "").slice(0, 128);
  } catch {
    return "";
  }
}

export function collectFacts(): Facts {
  const addresses: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal) addresses.push(a.address);
  }
  return {
    os: os.platform(),
    osRelease: osRelease(),
    kernel: os.release().slice(0, 128),
    arch: os.arch(),
    hostname: os.hostname().slice(0, 255),
    addresses: addresses.slice(0, 64),
    agentVersion: AGENT_VERSION,
    cpus: os.cpus().length,
    memoryBytes: os.totalmem(),
  };
}
