/**
 * A device enrolled in-process with the agent's own enroll() and fresh keys, with no agent
 * running afterwards: the server knows the device (pending, or accepted by the token), and it
 * never connects.
 */
import { enroll, type Identity } from "@tether/agent";
import { generateEd25519, generateX25519 } from "@tether/protocol";
import pino from "pino";

const log = pino({ level: "silent" });

/** The facts a device reports: a Debian arm64 machine called `hostname`. */
export function deviceFacts(hostname: string) {
  return {
    os: "linux",
    osRelease: "Debian 12",
    kernel: "6.1.0",
    arch: "arm64",
    hostname,
    addresses: ["10.0.0.7"],
    agentVersion: "0.1.0",
  };
}

/** Enrolls `name` (hostname: `hostname`, default the name) with an enrollment token. */
export function enrollDevice(o: {
  url: string;
  token: string;
  name: string;
  hostname?: string;
}): Promise<Identity> {
  return enroll({
    url: o.url,
    token: o.token,
    name: o.name,
    keys: { sign: generateEd25519(), noise: generateX25519() },
    facts: deviceFacts(o.hostname ?? o.name),
    log,
  });
}
