/**
 * The settings machinery every capability module with `tether.<module>.*` keys shares (docs/protocol.md
 * §14, §15): flat (`{"tether.logs.rate": 5}`), nested (`{"tether":{"logs":{"rate":5}}}`) or mixed keys,
 * unknown-key warnings, the error naming key and source, the device's settings file, remote settings
 * (never throwing: refused with a reason), and the precedence remote > file > flags > defaults with
 * device-only keys that remote settings never set. Each module keeps its own keys, value checks and
 * remote rules (allow-lists) in its folder. Pure: no I/O but what the caller hands in.
 */

/** Where a value came from, weakest first. */
export type SettingSource = "default" | "flag" | "file" | "remote";

/** A refused value, with the reason (values themselves may be strings). */
export class Bad {
  constructor(readonly reason: string) {}
}
export const bad = (reason: string) => new Bad(reason);
/** A value check: the value as the module keeps it, or why it is refused. */
export type Check<T> = (v: unknown) => T | Bad;

/** One key, for people and the docs table. */
export interface SettingKey<N extends string = string> {
  /** The full key, e.g. `tether.metrics.interval`. */
  key: string;
  name: N;
  /** For people and docs/protocol.md. */
  type: string;
  default: unknown;
  description: string;
  /** Only the device's own file or flags set it; remote settings never do. */
  deviceOnly: boolean;
  /** The `tether agent` flag, when there is one. */
  flag?: string;
}

export interface SettingDef<N extends string, T> extends SettingKey<N> {
  check: Check<T>;
}

/** A bad value in the device's own settings: a clear error at start (exit 2), naming key and source. */
export class SettingsError extends Error {
  constructor(
    readonly key: string,
    readonly where: string,
    message: string,
  ) {
    super(`${where}: ${key}: ${message}`);
    this.name = "SettingsError";
  }
}

export type SettingsErrorClass = new (key: string, where: string, message: string) => SettingsError;

/** What remote settings may not do as they are: a module's own rules over its keys. */
export interface RemoteRules<N extends string> {
  /** Why a raw value is refused before it is checked, or undefined. */
  before?: (name: N, v: unknown) => string | undefined;
  /** The checked value to apply (refusals of parts pushed onto `refused`), or why it is refused. */
  after?: (name: N, checked: unknown, refused: string[]) => unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  !!v && typeof v === "object" && !Array.isArray(v);

/** One module's keys under `tether.<module>`, and the parsing of each source of them. */
export class ModuleSettings<V extends object> {
  /** Every key without its check, for docs/protocol.md (generated and checked from this list). */
  readonly keys: readonly SettingKey<keyof V & string>[];
  private readonly byKey: Map<string, SettingDef<keyof V & string, unknown>>;
  private readonly byName: Map<keyof V & string, SettingDef<keyof V & string, unknown>>;

  constructor(
    /** `tether.<module>`. */
    readonly prefix: string,
    defs: readonly SettingDef<keyof V & string, unknown>[],
    readonly defaults: V,
    private readonly Err: SettingsErrorClass,
  ) {
    this.keys = defs.map(({ check: _c, ...k }) => k);
    this.byKey = new Map(defs.map((d) => [d.key, d]));
    this.byName = new Map(defs.map((d) => [d.name, d]));
  }

  /** The definition of a setting by its name. */
  def(name: keyof V & string): SettingDef<keyof V & string, unknown> | undefined {
    return this.byName.get(name);
  }

  /**
   * Flat, nested or mixed, to full keys. Keys outside the prefix belong to other modules and are
   * left alone; unknown keys inside it are reported.
   */
  flatten(raw: Record<string, unknown>, where: string, prefix = "") {
    const values = new Map<string, unknown>();
    const unknown: string[] = [];
    const PREFIX = this.prefix;
    const walk = (o: Record<string, unknown>, at: string) => {
      for (const [k, v] of Object.entries(o)) {
        const path = at ? `${at}.${k}` : k;
        if (this.byKey.has(path)) {
          if (values.has(path)) throw new this.Err(path, where, "given twice (flat and nested)");
          values.set(path, v);
        } else if (isObject(v) && (PREFIX.startsWith(path) || path.startsWith(`${PREFIX}.`))) {
          walk(v, path);
        } else if (path.startsWith(`${PREFIX}.`) || path === PREFIX) {
          unknown.push(path);
        }
      }
    };
    walk(raw, prefix);
    return { values, unknown };
  }

  /**
   * The device's settings file (JSON). Throws the module's error naming the key and the file;
   * `warnings` lists unknown keys under the prefix (a typo must not pass unnoticed).
   */
  parseFile(text: string, file: string): { layer: Partial<V>; warnings: string[] } {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new this.Err("(file)", file, `not valid JSON: ${(err as Error).message}`);
    }
    if (!isObject(raw)) throw new this.Err("(file)", file, "expected a JSON object");
    const { values, unknown } = this.flatten(raw, file);
    const layer: Record<string, unknown> = {};
    for (const [key, v] of values) {
      const d = this.byKey.get(key)!;
      const r = d.check(v);
      if (r instanceof Bad) throw new this.Err(key, file, r.reason);
      layer[d.name] = r;
    }
    return {
      layer: layer as Partial<V>,
      warnings: unknown.map((k) => `${file}: unknown setting ${k} (ignored)`),
    };
  }

  /** Reads and parses the settings file, if there is one; a file that cannot be read throws. */
  readFile(
    file: string | undefined,
    read: (path: string) => string,
  ): { layer: Partial<V>; warnings: string[] } {
    if (!file) return { layer: {}, warnings: [] };
    let text: string;
    try {
      text = read(file);
    } catch (err) {
      throw new this.Err("(file)", file, `cannot read: ${(err as Error).message}`);
    }
    return this.parseFile(text, file);
  }

  /**
   * `tether agent` flags as [full key, value] in the order to check them; unset values and empty
   * lists are skipped, and an error names the flag.
   */
  parseFlags(values: Iterable<[string, unknown]>): Partial<V> {
    const layer: Record<string, unknown> = {};
    for (const [key, v] of values) {
      if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
      const d = this.byKey.get(key);
      if (!d) continue;
      const r = d.check(v);
      if (r instanceof Bad) throw new this.Err(d.flag ?? d.key, "flag", r.reason);
      layer[d.name] = r;
    }
    return layer as Partial<V>;
  }

  /**
   * Remote settings (the server's, via applySettings): full keys flat or nested, or bare keys (the
   * module's member of the settings). Never throws: a bad value, a device-only key or what the
   * module's rules refuse is refused with a reason and the rest applies.
   */
  parseRemote(
    raw: unknown,
    rules: RemoteRules<keyof V & string> = {},
  ): { layer: Partial<V>; refused: string[] } {
    const refused: string[] = [];
    if (raw === undefined || raw === null) return { layer: {}, refused };
    if (!isObject(raw)) return { layer: {}, refused: ["remote settings: expected an object"] };
    let flat: ReturnType<ModuleSettings<V>["flatten"]>;
    try {
      const full = Object.keys(raw).some((k) => k === "tether" || k.startsWith("tether."));
      flat = this.flatten(raw, "remote", full ? "" : this.prefix);
    } catch (err) {
      return { layer: {}, refused: [(err as Error).message] };
    }
    for (const k of flat.unknown) refused.push(`remote: unknown setting ${k}`);
    const layer: Record<string, unknown> = {};
    for (const [key, v] of flat.values) {
      const d = this.byKey.get(key)!;
      if (d.deviceOnly) {
        refused.push(`remote: ${key} is set only by the device's own file or flags`);
        continue;
      }
      const early = rules.before?.(d.name, v);
      if (early !== undefined) {
        refused.push(`remote: ${key}: ${early}`);
        continue;
      }
      let r = d.check(v);
      if (!(r instanceof Bad) && rules.after) r = rules.after(d.name, r, refused);
      if (r instanceof Bad) {
        refused.push(`remote: ${key}: ${r.reason}`);
        continue;
      }
      layer[d.name] = r;
    }
    return { layer: layer as Partial<V>, refused };
  }

  /** Precedence: remote > file > flags > defaults (device-only keys never from remote). */
  resolve(layers: { flags?: Partial<V>; file?: Partial<V>; remote?: Partial<V> }): {
    values: V;
    from: Record<keyof V, SettingSource>;
  } {
    const values = { ...this.defaults };
    const from = {} as Record<keyof V, SettingSource>;
    for (const name of Object.keys(this.defaults) as (keyof V)[]) from[name] = "default";
    const order: [SettingSource, Partial<V> | undefined][] = [
      ["flag", layers.flags],
      ["file", layers.file],
      ["remote", layers.remote],
    ];
    for (const [source, layer] of order) {
      if (!layer) continue;
      for (const [name, v] of Object.entries(layer) as [keyof V & string, never][]) {
        if (v === undefined) continue;
        if (source === "remote" && this.byName.get(name)?.deviceOnly) continue;
        values[name] = v;
        from[name] = source;
      }
    }
    return { values, from };
  }
}

const cell = (s: string) => s.replace(/\|/g, "\\|");

/** The keys as a Markdown table, for docs/protocol.md (and the test that checks it). */
export function settingsMarkdown(
  keys: readonly SettingKey[],
  defaultText: (k: SettingKey) => string = (k) => JSON.stringify(k.default),
): string {
  const rows = keys.map((k) => {
    const who = k.deviceOnly ? "device only" : "device, remote";
    return `| \`${k.key}\` | ${cell(k.type)} | \`${defaultText(k)}\` | ${k.flag ? `\`${k.flag}\`` : "—"} | ${who} | ${cell(k.description)} |`;
  });
  return [
    "| key | type | default | flag | set by | meaning |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}
