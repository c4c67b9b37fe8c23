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
 * Strings this long or longer (a string value, or the longest string field of a plain object
 * value) are stored after a length prefix instead of inside the JSON: no escaping on write, no
 * unescaping on read (the reader slices them out of the stored text).
 */
export const RAW_TEXT_MIN_CHARS = 1024;
/** First character of an entry with raw text; JSON never starts with it. */
const RAW_MARK = '~';
const RAW_MARK_CODE = RAW_MARK.charCodeAt(0);
/** `String.prototype.isWellFormed` (Node 20 has it; the ES2022 lib this project compiles against does not). */
const isWellFormed = (text: string): boolean =>
  (text as unknown as { isWellFormed(): boolean }).isWellFormed();
/** Most digits of a raw text's length prefix. */
const MAX_LENGTH_DIGITS = 15;

/**
 * Serializes an entry's envelope (`SerializationError` for cycles, BigInt and the like): JSON
 * `{"v":…,"a":…,"s":…,"e":…,"k":…}`, the timeline always last. A long well-formed string (see
 * `RAW_TEXT_MIN_CHARS`) is taken out of the JSON: the text is `~<length>:<string>` followed by the
 * JSON, whose `v` holds `null` in its place and whose `r` says where it goes (`true`: it is the
 * value; a name: that field of the value). Depth and `__proto__` keys are checked on the text by
 * `readEntry`, which every write runs on it (the tier stack keeps the decoded copy in L1): one
 * walk per write, not two.
 */
export function encodeEntry(
  value: unknown,
  asOf: number,
  staleAt: number,
  expiresAt: number,
  keepUntil: number,
): string {
  try {
    const raw = rawTextOf(value);
    if (raw === undefined)
      return JSON.stringify({
        v: value,
        a: asOf,
        s: staleAt,
        e: expiresAt,
        k: keepUntil,
      } satisfies Envelope);
    // The same envelope, with the text's place (`r`) before the timeline, which stays last.
    const rest = raw.field === true ? null : { ...(value as object), [raw.field]: null };
    const json = JSON.stringify({
      v: rest,
      r: raw.field,
      a: asOf,
      s: staleAt,
      e: expiresAt,
      k: keepUntil,
    });
    return `${RAW_MARK}${raw.text.length}:${raw.text}${json}`;
  } catch (e) {
    throw new SerializationError(
      `value is not JSON-serializable: ${e instanceof Error ? e.message : String(e)}`,
      e,
    );
  }
}

/**
 * The string of `value` stored as raw text, and where it goes (`true`: the value itself), or
 * undefined: a string value, or the longest string field of a plain object (no `toJSON`), of at
 * least `RAW_TEXT_MIN_CHARS` characters and well-formed (a lone surrogate would not survive UTF-8;
 * JSON escapes it).
 */
function rawTextOf(value: unknown): { text: string; field: string | true } | undefined {
  if (typeof value === 'string')
    return value.length >= RAW_TEXT_MIN_CHARS && isWellFormed(value)
      ? { text: value, field: true }
      : undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const fields = value as Record<string, unknown>;
  if ('toJSON' in fields) return undefined;
  let best: { text: string; field: string } | undefined;
  // `for…in`, not `Object.keys`: no array per write; an inherited key is skipped below.
  for (const field in fields) {
    const text = fields[field];
    if (typeof text !== 'string' || text.length < (best?.text.length ?? RAW_TEXT_MIN_CHARS))
      continue;
    if (field !== '__proto__' && hasOwn(fields, field) && isWellFormed(text))
      best = { text, field };
  }
  return best;
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
  let text: string | undefined;
  let json = raw;
  if (raw.charCodeAt(0) === RAW_MARK_CODE) {
    const split = splitRawText(raw);
    if (split === undefined) return 'json';
    [text, json] = split;
  }
  let env: unknown;
  try {
    env = JSON.parse(json);
  } catch {
    return 'json'; // callers count it as corrupt and delete the key
  }
  if (typeof env !== 'object' || env === null || Array.isArray(env) || !('v' in env))
    return 'shape';
  if (hasOwn(env, '__proto__')) return 'proto';
  const { a, s, e, k } = env as Envelope;
  if (!isInstant(a) || !isInstant(s) || !isInstant(e) || !isInstant(k)) return 'shape';
  if (s > e || e > k) return 'shape';
  if (text !== undefined && !placeRawText(env as { v: unknown; r?: unknown }, text)) return 'shape';
  return checkParsed((env as Envelope).v, MAX_VALUE_DEPTH, true) ?? (env as Envelope<T>);
}

/** `[text, json]` of an entry with raw text (`~<length>:<text><json>`), or undefined when the prefix is not one. */
function splitRawText(raw: string): [string, string] | undefined {
  let length = 0;
  let at = 1;
  for (; at < raw.length && at <= MAX_LENGTH_DIGITS; at++) {
    const digit = raw.charCodeAt(at) - 48;
    if (digit < 0 || digit > 9) break;
    length = length * 10 + digit;
  }
  if (at === 1 || raw.charCodeAt(at) !== 58 /* : */) return undefined;
  const end = at + 1 + length;
  if (end >= raw.length) return undefined;
  return [raw.slice(at + 1, end), raw.slice(end)];
}

/**
 * Puts raw text where the envelope's `r` says (`true`: the value, which must be `null`; a field
 * name: that own field of the value object, which must hold `null`). False when it does not fit.
 */
function placeRawText(env: { v: unknown; r?: unknown }, text: string): boolean {
  const { v, r } = env;
  if (r === true) {
    if (v !== null) return false;
    env.v = text;
    return true;
  }
  if (typeof r !== 'string' || r === '__proto__') return false;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  if (!hasOwn(v, r) || (v as Record<string, unknown>)[r] !== null) return false;
  (v as Record<string, unknown>)[r] = text;
  return true;
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
