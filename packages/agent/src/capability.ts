/**
 * A capability module: what the agent can do beyond carrying messages (ping, broker secret
 * rotation, remote commands, ...). The shared interface between the transport (control/)
 * and the modules (capabilities/<name>/); capabilities.ts lists the modules, once.
 *
 * A module is static: `create` builds its runtime for one agent from injected ports (it
 * never sees the control channel), and every other member gets that runtime.
 */
import type { DownBody, DownType } from "@tether/protocol";
import type { ChannelPorts } from "./control/extension.js";
import type { HandlerResult } from "./control/handler.js";
import type { JournalSlice } from "./control/journal-slice.js";

/**
 * The ports a module may use: link, journal (its slice), broker secrets, log, and the other
 * modules' settings (remote configuration hands each module its `tether.<module>.*` member).
 */
export interface CapabilityPorts extends ChannelPorts {
  /** Hand each module its member of `settings` (by module name: `{metrics: {...}, logs: {...}}`). */
  applySettings(settings: Record<string, unknown>): void;
}

export type CapabilityHandler<K extends DownType, R> = (
  rt: R,
  body: DownBody<K>,
) => Promise<HandlerResult> | HandlerResult;

/**
 * `N` its name (also the key of its options in ControlClientOptions), `H` the downstream
 * types it handles, `R` its runtime, `O` its options.
 */
export interface CapabilityModule<
  N extends string = string,
  H extends DownType = DownType,
  R = unknown,
  O = never,
> {
  readonly name: N;
  /** Its journal records (kinds, apply, snapshot, compaction); the journal core knows none. */
  readonly journal?: JournalSlice<any, any>;
  /** Build the runtime for one agent. Runs before `start`. */
  create(ports: CapabilityPorts, options: O | undefined): R;
  /**
   * One handler per downstream type it owns. Durable or not is the protocol registry's
   * word (`isDurableDown`); a durable handler returns the records to commit with "seen".
   */
  readonly handlers: { readonly [K in H]: CapabilityHandler<K, R> };
  /** At agent start, connected or not (e.g. report commands lost in a crash). */
  start?(rt: R): void | Promise<void>;
  /** After every handshake, once the outbox was re-sent (e.g. re-send unacknowledged output). */
  onConnected?(rt: R): void;
  /** At a clean stop, before the goodbye. */
  onStopping?(rt: R): void;
  /** Remote settings for this module (`tether.<name>.*` from remote configuration, docs/protocol.md §18.5). */
  applySettings?(rt: R, settings: unknown): void;
}

export type AnyCapability = CapabilityModule<string, any, any, any>;

type Handled<M> = M extends { readonly handlers: infer T } ? keyof T & DownType : never;
type Twice<L extends readonly unknown[]> = L extends readonly [infer M, ...infer Rest]
  ? (Handled<M> & Handled<Rest[number]>) | Twice<Rest>
  : never;

/**
 * Compile-time check that the modules `L` plus the transport's own types `Core` handle
 * every downstream message type exactly once: `true`, else the offending types.
 */
export type HandledOnce<L extends readonly AnyCapability[], Core extends DownType> = [
  Exclude<DownType, Core | Handled<L[number]>>,
  Twice<L> | (Core & Handled<L[number]>),
] extends [never, never]
  ? true
  : {
      missing: Exclude<DownType, Core | Handled<L[number]>>;
      handledTwice: Twice<L> | (Core & Handled<L[number]>);
    };

type OptionsOf<M> = M extends { create(ports: any, options: infer O): any } ? Exclude<O, undefined> : never;

/** Each module's options under its name, for the modules that take options. */
export type CapabilityOptions<L extends readonly AnyCapability[]> = {
  [M in L[number] as [OptionsOf<M>] extends [never] ? never : M["name"]]?: OptionsOf<M>;
};
