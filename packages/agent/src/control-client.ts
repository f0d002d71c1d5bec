/**
 * The agent's control client: the transport (control/control-channel.ts) with the capability
 * modules (capabilities.ts) plugged in. This is where the two meet; neither imports the other.
 */
import { type CapabilityHost, hostCapabilities } from "./capability-host.js";
import { type AgentCapabilityOptions, capabilities } from "./capabilities.js";
import { ControlChannel, type ControlChannelOptions } from "./control/control-channel.js";

export type ControlClientOptions = ControlChannelOptions & AgentCapabilityOptions;

export class ControlClient extends ControlChannel {
  private readonly host: CapabilityHost;

  constructor(o: ControlClientOptions) {
    let host: CapabilityHost | undefined;
    super(o, (ports) => {
      host = hostCapabilities(capabilities, ports, o);
      return host;
    });
    this.host = host as CapabilityHost;
  }

  /** Remote settings, by module name (what the config capability does with `tether.*` keys; tests). */
  applySettings(settings: Record<string, unknown>): void {
    this.host.applySettings(settings);
  }
}
