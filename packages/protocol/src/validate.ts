import type { Static, TSchema } from "typebox";
import { Compile } from "typebox/compile";

export interface Validator<T> {
  check(value: unknown): value is T;
  /** Returns the value typed, or throws an Error naming the first problem. */
  parse(value: unknown): T;
}

/** Compile a schema once; validate at every boundary (docs/architecture.md §4). */
export function validator<S extends TSchema>(schema: S): Validator<Static<S>> {
  const c = Compile(schema);
  return {
    check: (v: unknown): v is Static<S> => c.Check(v),
    parse(v: unknown): Static<S> {
      if (c.Check(v)) return v as Static<S>;
      const first = [...c.Errors(v)][0];
      const where = first ? `${(first as any).instancePath || "/"} ${first.message}` : "invalid";
      throw new Error(`invalid message: ${where}`);
    },
  };
}
