import { SerializationError } from '../errors/cache-errors.js';
import type { CacheKeyType } from '../keys/cache-key-type.js';

/**
 * One cached value with its timeline, all instants in epoch milliseconds:
 * fresh until `staleAt`, served stale-while-revalidate until `expiresAt`, kept for fail-safe
 * until `keepUntil` (= `expiresAt` + the key type's max staleness).
 */
export interface CacheEntry<T = unknown> {
  value: T;
  /** When the source produced the value. */
  asOf: number;
  staleAt: number;
  expiresAt: number;
  keepUntil: number;
  /** Serialized size in UTF-16 code units (≈ bytes for ASCII JSON). */
  size: number;
  keyType?: CacheKeyType;
  /** Fail-safe throttle: until this instant a stale value is served without calling the source. */
  failSafeUntil?: number;
}

interface Envelope {
  v: unknown;
  a: number;
  s: number;
  e: number;
  k: number;
}

/** Deepest nesting of objects and arrays a cached value may have (a scalar is depth 0); deeper values are refused on write and corrupt on read. */
export const MAX_VALUE_DEPTH = 512;
/** Largest magnitude of an instant a `Date` can hold, in epoch ms (±8.64e15). */
export const MAX_DATE_MS = 8.64e15;

/**
 * Serializes an entry's envelope as JSON (`SerializationError` for cycles, BigInt, a value nested
 * deeper than `MAX_VALUE_DEPTH`, and the like).
 */
export function encodeEntry(
  value: unknown,
  asOf: number,
  staleAt: number,
  expiresAt: number,
  keepUntil: number,
): string {
  let raw: string | undefined;
  try {
    raw = JSON.stringify({
      v: value,
      a: asOf,
      s: staleAt,
      e: expiresAt,
      k: keepUntil,
    } satisfies Envelope);
  } catch (e) {
    throw new SerializationError(
      `value is not JSON-serializable: ${e instanceof Error ? e.message : String(e)}`,
      e,
    );
  }
  // After stringify, so a cycle is reported as a cycle; then the value is a tree (or a DAG).
  if (!withinDepth(value, MAX_VALUE_DEPTH))
    throw new SerializationError(
      `value is nested deeper than ${MAX_VALUE_DEPTH} levels of objects and arrays`,
    );
  return raw;
}

/**
 * Parses a stored envelope. Answers `undefined` for anything that is not a valid entry of ours:
 * non-JSON, a wrong shape, a payload carrying a `__proto__` key (refused rather than risk
 * pollution), an instant that is not a finite number in `[0, MAX_DATE_MS]`, a timeline out of
 * order (`staleAt ≤ expiresAt ≤ keepUntil` is required), or a value nested deeper than
 * `MAX_VALUE_DEPTH` (checked without recursion). The value is deep-frozen, so callers sharing it
 * can never change what the next caller gets.
 */
export function decodeEntry<T>(
  raw: string,
  keyType: CacheKeyType | undefined,
): CacheEntry<T> | undefined {
  const env = parseJson(raw);
  if (typeof env !== 'object' || env === null || Array.isArray(env) || !('v' in env))
    return undefined;
  const { v, a, s, e, k } = env as Envelope;
  if (!isInstant(a) || !isInstant(s) || !isInstant(e) || !isInstant(k)) return undefined;
  if (s > e || e > k) return undefined;
  if (!freezeWithin(v, MAX_VALUE_DEPTH)) return undefined;
  return {
    value: v as T,
    asOf: a,
    staleAt: s,
    expiresAt: e,
    keepUntil: k,
    size: raw.length,
    keyType,
  };
}

/**
 * Parses JSON text; `undefined` for non-JSON, text carrying a `__proto__` key, or a value nested
 * deeper than `maxDepth` (default `MAX_VALUE_DEPTH`). Never evaluates code.
 */
export function decodeJsonValue(raw: string, maxDepth = MAX_VALUE_DEPTH): unknown {
  const value = parseJson(raw);
  return withinDepth(value, maxDepth) ? value : undefined;
}

function parseJson(raw: string): unknown {
  if (raw.includes('"__proto__"')) return undefined;
  try {
    // `\u` escapes could spell `__proto__`: only then pay for a reviver that checks every key.
    return raw.includes('\\u') ? JSON.parse(raw, refuseProto) : JSON.parse(raw);
  } catch {
    return undefined; // not JSON (or a refused key): callers count it as corrupt and delete the key
  }
}

function refuseProto(key: string, value: unknown): unknown {
  if (key === '__proto__') throw new SyntaxError('refused __proto__ key');
  return value;
}

/** An instant a `Date` can hold and a timeline may use: a finite number in `[0, MAX_DATE_MS]`. */
function isInstant(n: unknown): n is number {
  return typeof n === 'number' && n >= 0 && n <= MAX_DATE_MS;
}

/** True when `value` nests at most `maxDepth` levels of objects and arrays (an explicit stack: no recursion). */
export function withinDepth(value: unknown, maxDepth: number): boolean {
  return walk(value, maxDepth, false);
}

/** Freezes an object graph in place (once, on insert), so hits cost nothing to protect. Iterative: any depth. */
export function deepFreeze<T>(value: T): T {
  walk(value, Number.POSITIVE_INFINITY, true);
  return value;
}

/** Freezes `value` in place when it nests at most `maxDepth` levels; false (and not wholly frozen) when deeper. */
function freezeWithin(value: unknown, maxDepth: number): boolean {
  return walk(value, maxDepth, true);
}

/**
 * Visits every object and array under `root` with an explicit stack; false as soon as one sits
 * deeper than `maxDepth` (the root object is level 1). With `freeze`, freezes each one visited and
 * skips subgraphs already frozen.
 */
function walk(root: unknown, maxDepth: number, freeze: boolean): boolean {
  if (typeof root !== 'object' || root === null) return true;
  const nodes: object[] = [root];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop() as object;
    const depth = depths.pop() as number;
    if (depth > maxDepth) return false;
    if (freeze) {
      if (Object.isFrozen(node)) continue;
      Object.freeze(node);
    }
    for (const child of Object.values(node)) {
      if (typeof child === 'object' && child !== null) {
        nodes.push(child as object);
        depths.push(depth + 1);
      }
    }
  }
  return true;
}
