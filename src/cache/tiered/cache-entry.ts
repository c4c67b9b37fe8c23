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

/** Serializes an entry's envelope as JSON (`SerializationError` for cycles, BigInt and the like). */
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
  return raw;
}

/**
 * Parses a stored envelope. Answers `undefined` for anything that is not one of ours: non-JSON,
 * a wrong shape, or a payload carrying a `__proto__` key (refused rather than risk pollution).
 * The value is deep-frozen, so callers sharing it can never change what the next caller gets.
 */
export function decodeEntry<T>(
  raw: string,
  keyType: CacheKeyType | undefined,
): CacheEntry<T> | undefined {
  const env = decodeJsonValue(raw);
  if (typeof env !== 'object' || env === null || !('v' in env)) return undefined;
  const { v, a, s, e, k } = env as Envelope;
  if (![a, s, e, k].every((n) => typeof n === 'number' && Number.isFinite(n))) return undefined;
  return {
    value: deepFreeze(v) as T,
    asOf: a,
    staleAt: s,
    expiresAt: e,
    keepUntil: k,
    size: raw.length,
    keyType,
  };
}

/** Parses JSON text; `undefined` for non-JSON or text carrying a `__proto__` key. Never evaluates code. */
export function decodeJsonValue(raw: string): unknown {
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

/** Freezes an object graph in place (once, on insert), so hits cost nothing to protect. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  return value;
}
