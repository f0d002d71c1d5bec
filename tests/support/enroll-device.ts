/**
 * A device enrolled in-process with the agent's own enroll() and fresh keys, with no agent
 * running afterwards: the server knows the device (pending, or accepted by the token), and it
 * never connects.
 */
import { enroll, type Identity } from "@tether/agent";
import { generateEd25519, generateX25519, type KeyPair } from "@tether/protocol";
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

/** A device's fresh key pairs: Ed25519 to sign, X25519 for the Noise handshake. */
export function deviceKeys(): { sign: KeyPair; noise: KeyPair } {
  return { sign: generateEd25519(), noise: generateX25519() };
}

/**
 * Enrolls `name` (hostname: `hostname`, default the name) with an enrollment token, with `keys`
 * (default fresh ones: pass your own to act as the device afterwards).
 */
export function enrollDevice(o: {
  url: string;
  token: string;
  name: string;
  hostname?: string;
  keys?: { sign: KeyPair; noise: KeyPair };
}): Promise<Identity> {
  return enroll({
    url: o.url,
    token: o.token,
    name: o.name,
    keys: o.keys ?? deviceKeys(),
    facts: deviceFacts(o.hostname ?? o.name),
    log,
  });
}
