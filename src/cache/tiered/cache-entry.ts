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

/**
 * An entry as stored: the value and its timeline (`a`sOf, `s`taleAt, `e`xpiresAt, `k`eepUntil).
 * `readEnvelope` answers it checked, with the value frozen; `entryOf` makes the `CacheEntry` (only
 * when one is kept: a read L1 does not keep answers the value without building one).
 */
export interface Envelope<T = unknown> {
  readonly v: T;
  readonly a: number;
  readonly s: number;
  readonly e: number;
  readonly k: number;
}

/** Why stored text is not an entry of ours (see `readEntry`). */
export type EntryDefect = 'json' | 'shape' | 'proto' | 'depth';

/** Deepest nesting of objects and arrays a cached value may have (a scalar is depth 0); deeper values are refused on write and corrupt on read. */
export const MAX_VALUE_DEPTH = 512;
/** Largest magnitude of an instant a `Date` can hold, in epoch ms (±8.64e15). */
export const MAX_DATE_MS = 8.64e15;

const hasOwn = Object.hasOwn;

/**
 * Serializes an entry's envelope as JSON (`SerializationError` for cycles, BigInt and the like).
 * Depth and `__proto__` keys are checked on the text by `readEntry`, which every write runs on it
 * (the tier stack keeps the decoded copy in L1): one walk per write, not two.
 */
export function encodeEntry(
  value: unknown,
  asOf: number,
  staleAt: number,
  expiresAt: number,
  keepUntil: number,
): string {
  try {
    return JSON.stringify({
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
}

/**
 * Parses a stored envelope. Answers `undefined` for anything that is not a valid entry of ours:
 * non-JSON, a wrong shape, a `__proto__` key anywhere (refused rather than risk pollution), an
 * instant that is not a finite number in `[0, MAX_DATE_MS]`, a timeline out of order
 * (`staleAt ≤ expiresAt ≤ keepUntil` is required), or a value nested deeper than
 * `MAX_VALUE_DEPTH` (checked without recursion). The value is deep-frozen, so callers sharing it
 * can never change what the next caller gets.
 */
export function decodeEntry<T>(
  raw: string,
  keyType: CacheKeyType | undefined,
): CacheEntry<T> | undefined {
  const entry = readEntry<T>(raw, keyType);
  return typeof entry === 'string' ? undefined : entry;
}

/**
 * `decodeEntry`, answering why the text is refused instead of `undefined`: `json` (not JSON),
 * `shape` (not an envelope, or a bad timeline), `proto` (a `__proto__` key) or `depth`.
 */
export function readEntry<T>(
  raw: string,
  keyType: CacheKeyType | undefined,
): CacheEntry<T> | EntryDefect {
  const env = readEnvelope<T>(raw);
  return typeof env === 'string' ? env : entryOf(env, raw.length, keyType);
}

/**
 * Parses and checks a stored envelope (see `readEntry`), its value deep-frozen. One `JSON.parse`
 * and one walk of the value: the walk checks depth, refuses own `__proto__` keys (JSON.parse
 * defines them as own properties, escaped spellings included) and freezes.
 */
export function readEnvelope<T>(raw: string): Envelope<T> | EntryDefect {
  let env: unknown;
  try {
    env = JSON.parse(raw);
  } catch {
    return 'json'; // callers count it as corrupt and delete the key
  }
  if (typeof env !== 'object' || env === null || Array.isArray(env) || !('v' in env))
    return 'shape';
  if (hasOwn(env, '__proto__')) return 'proto';
  const { v, a, s, e, k } = env as Envelope;
  if (!isInstant(a) || !isInstant(s) || !isInstant(e) || !isInstant(k)) return 'shape';
  if (s > e || e > k) return 'shape';
  return checkParsed(v, MAX_VALUE_DEPTH, true) ?? (env as Envelope<T>);
}

/** The entry of a checked envelope read from `size` characters of stored text. */
export function entryOf<T>(
  env: Envelope<T>,
  size: number,
  keyType: CacheKeyType | undefined,
): CacheEntry<T> {
  return {
    value: env.v,
    asOf: env.a,
    staleAt: env.s,
    expiresAt: env.e,
    keepUntil: env.k,
    size,
    keyType,
  };
}

/**
 * Parses JSON text; `undefined` for non-JSON, text carrying a `__proto__` key, or a value nested
 * deeper than `maxDepth` (default `MAX_VALUE_DEPTH`). Never evaluates code.
 */
export function decodeJsonValue(raw: string, maxDepth = MAX_VALUE_DEPTH): unknown {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  return checkParsed(value, maxDepth, false) === undefined ? value : undefined;
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

/**
 * Walks what `JSON.parse` just produced (a tree of plain objects and arrays, none frozen yet) with
 * an explicit stack: `depth` when a node sits deeper than `maxDepth` (the root object is level 1),
 * `proto` for an own `__proto__` key; with `freeze`, freezes every node. Objects are walked with
 * `for…in` (their keys are own and enumerable; no array is allocated per node), arrays by index.
 */
function checkParsed(root: unknown, maxDepth: number, freeze: boolean): EntryDefect | undefined {
  if (typeof root !== 'object' || root === null) return undefined;
  // Nodes still to visit and their depths, interleaved; made only when a node has object children.
  let stack: unknown[] | undefined;
  let node = root as Record<string, unknown>;
  let depth = 1;
  for (;;) {
    if (depth > maxDepth) return 'depth';
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const child: unknown = node[i];
        if (typeof child === 'object' && child !== null) (stack ??= []).push(child, depth + 1);
      }
    } else {
      if (hasOwn(node, '__proto__')) return 'proto';
      for (const key in node) {
        const child = node[key];
        if (typeof child === 'object' && child !== null) (stack ??= []).push(child, depth + 1);
      }
    }
    // Frozen after its keys are read: `for…in` over a frozen object takes a slow, allocating path.
    if (freeze) Object.freeze(node);
    if (stack === undefined || stack.length === 0) return undefined;
    depth = stack.pop() as number;
    node = stack.pop() as Record<string, unknown>;
  }
}

/**
 * Visits every object and array under `root` (any value: a caller's, possibly a DAG with frozen
 * parts) with an explicit stack; false as soon as one sits deeper than `maxDepth` (the root object
 * is level 1). With `freeze`, freezes each one visited and skips subgraphs already frozen.
 */
function walk(root: unknown, maxDepth: number, freeze: boolean): boolean {
  if (typeof root !== 'object' || root === null) return true;
  const nodes: object[] = [root];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop() as object;
    const depth = depths.pop() as number;
    if (depth > maxDepth) return false;
    if (freeze && Object.isFrozen(node)) continue;
    for (const child of Object.values(node)) {
      if (typeof child === 'object' && child !== null) {
        nodes.push(child as object);
        depths.push(depth + 1);
      }
    }
    if (freeze) Object.freeze(node); // after its values are read (the fast path for unfrozen objects)
  }
  return true;
}
