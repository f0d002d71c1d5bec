/**
 * Answer checking the capability APIs (metrics, logs, alerts) share: validators compiled on first
 * use, arrays checked item by item, and a call whose answer that does not match its schema is an
 * ApiError (502, TETHER_ERR_HTTP) naming the route. Browser-safe.
 */
import { type Validator, validator } from "@tether/protocol/validate";
import type { TetherClient } from "./client.js";
import { ApiError } from "./errors.js";

export type Query = Record<string, string | number | undefined>;

/** Compiled on first use (a short CLI run pays only for the answers it reads). */
export function lazy<T>(make: () => Validator<T>): () => Validator<T> {
  let v: Validator<T> | undefined;
  return () => {
    v ??= make();
    return v;
  };
}

/** An array of `item`s; the first bad one is named by its index. */
export function arrayOf<T>(item: () => Validator<T>): () => Validator<T[]> {
  const parse = (v: unknown): T[] => {
    if (!Array.isArray(v)) throw new Error("invalid message: / must be an array");
    v.forEach((x, i) => {
      try {
        item().parse(x);
      } catch (err) {
        throw new Error(`[${i}]: ${(err as Error).message}`);
      }
    });
    return v as T[];
  };
  const check = (v: unknown): v is T[] => Array.isArray(v) && v.every((x) => item().check(x));
  return () => ({ check, parse });
}

/** Parse an answer; one that does not match is an ApiError naming the route. */
export function parseAnswer<T>(v: () => Validator<T>, method: string, path: string, json: unknown): T {
  try {
    return v().parse(json);
  } catch (err) {
    throw new ApiError(
      502,
      "TETHER_ERR_HTTP",
      `${method} ${path}: unexpected answer (${(err as Error).message})`,
    );
  }
}

/** `c.request`, its answer checked. */
export function checkedCall(c: TetherClient) {
  return async <T>(
    v: () => Validator<T>,
    method: string,
    path: string,
    body?: unknown,
    query?: Query,
  ): Promise<T> => parseAnswer(v, method, path, await c.request<unknown>(method, path, body, query));
}
