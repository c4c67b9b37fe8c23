/**
 * Range buckets stored as bytes: a day's or a closed month's items as their serialized JSON
 * (each item followed by a comma), with a content hash and, for a month, where each day starts.
 * A warm range is answered by concatenating slices of these fragments: nothing is parsed and
 * re-serialized, and the answer's ETag comes from the buckets' hashes.
 */
import { hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { ItemCheck } from './range-buckets.js';

/**
 * A bucket of one day (`o` absent) or of a whole closed month (`o` = where each day of the
 * month starts in `b`, one offset per day plus the end).
 */
export interface FragmentBucket {
  /** Epoch ms when the source produced the oldest day of the bucket. */
  at: number;
  /** Items in the bucket (`0` = no trading in the whole bucket). */
  n: number;
  /** Content hash of `b` (`hashFragment`): what the answer's ETag is made of. */
  h: string;
  /**
   * CRC-32 of `b` (`checksumFragment`), what a read checks `b` against: a third of the cost of
   * hashing it again, on every bucket of every answer read from Redis. Buckets written before
   * it existed have none and are checked against `h`.
   */
  c?: number;
  /** Each item's JSON followed by `,`; empty when `n` is 0. */
  b: string;
  /** Month buckets: `o[k]` is where day `k + 1` starts in `b`; `o[days]` is `b.length`. */
  o?: number[];
}

/** Largest instant a `Date` can hold, in epoch ms. */
const MAX_INSTANT_MS = 8.64e15;
/** Longest hash accepted from a stored bucket. */
const MAX_HASH_CHARS = 64;

/** Content hash of a fragment (SHA-1, base64url). */
export function hashFragment(body: string): string {
  // One-shot (no Hash object per call): the same digest as createHash('sha1').
  return hash('sha1', body, 'base64url');
}

/** Checksum of a fragment: CRC-32 of its UTF-8 bytes. */
export function checksumFragment(body: string): number {
  return crc32(body);
}

/** The fragment of items: each item's JSON followed by a comma. */
export function encodeItems<T>(items: readonly T[]): string {
  let body = '';
  for (const item of items) body += JSON.stringify(item) + ',';
  return body;
}

/** A day bucket of freshly fetched items. */
export function dayBucket<T>(at: number, items: readonly T[]): FragmentBucket {
  const b = encodeItems(items);
  return { at, n: items.length, h: hashFragment(b), c: checksumFragment(b), b };
}

/** A month bucket folded from the buckets of each of its days, in order (one per day). */
export function foldMonth(days: readonly FragmentBucket[]): FragmentBucket {
  const o: number[] = new Array(days.length + 1);
  let b = '';
  let n = 0;
  let at = Number.POSITIVE_INFINITY;
  for (let k = 0; k < days.length; k++) {
    o[k] = b.length;
    b += days[k].b;
    n += days[k].n;
    if (days[k].at < at) at = days[k].at;
  }
  o[days.length] = b.length;
  return { at, n, h: hashFragment(b), c: checksumFragment(b), b, o };
}

/**
 * Buckets whose body was checked against its hash. L1 hands out the same frozen bucket on every
 * hit, so each is hashed once when it enters L1, not on every warm request.
 */
const verified = new WeakSet<FragmentBucket>();

/**
 * A stored value as a bucket with `days` days (1 for a day bucket), or undefined when it is
 * absent or not ours (then those days are read another way or fetched again): `at` not an
 * instant, counts or offsets that do not add up, a body that does not end with a comma, or a
 * body whose checksum is not `c` (without `c`: whose hash is not `h`).
 */
export function parseFragment(value: unknown, days: number): FragmentBucket | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as Partial<FragmentBucket>;
  if (verified.has(v as FragmentBucket)) return v as FragmentBucket;
  if (typeof v.at !== 'number' || !(v.at >= 0 && v.at <= MAX_INSTANT_MS)) return undefined;
  if (typeof v.n !== 'number' || !Number.isInteger(v.n) || v.n < 0) return undefined;
  if (typeof v.h !== 'string' || v.h.length === 0 || v.h.length > MAX_HASH_CHARS) return undefined;
  if (v.c !== undefined && typeof v.c !== 'number') return undefined;
  if (typeof v.b !== 'string' || (v.n === 0) !== (v.b.length === 0)) return undefined;
  if (v.b.length > 0 && v.b.charCodeAt(v.b.length - 1) !== 44 /* , */) return undefined;
  if (days === 1 ? v.o !== undefined : !offsetsFit(v.o, days, v.b)) return undefined;
  if (v.c === undefined ? hashFragment(v.b) !== v.h : checksumFragment(v.b) !== v.c)
    return undefined;
  if (Object.isFrozen(v)) verified.add(v as FragmentBucket);
  return v as FragmentBucket;
}

/** True when `o` has one non-decreasing offset per day plus the end, each at a day's start. */
function offsetsFit(o: unknown, days: number, body: string): boolean {
  if (!Array.isArray(o) || o.length !== days + 1 || o[0] !== 0 || o[days] !== body.length)
    return false;
  for (let k = 1; k <= days; k++) {
    const at: unknown = o[k];
    if (typeof at !== 'number' || !Number.isInteger(at) || at < (o[k - 1] as number)) return false;
    // Every day but the last ends right after an item's comma.
    if (at > 0 && at < body.length && body.charCodeAt(at - 1) !== 44) return false;
  }
  return true;
}

/**
 * A day bucket of the earlier inline layout (`{ at, items }`), still read so that a deploy keeps
 * the days already cached; its items pass `isItem` first. Undefined when it is not one.
 */
export function fromInlineDay(value: unknown, isItem?: ItemCheck): FragmentBucket | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as { at?: unknown; items?: unknown };
  if (typeof v.at !== 'number' || !(v.at >= 0 && v.at <= MAX_INSTANT_MS)) return undefined;
  if (!Array.isArray(v.items)) return undefined;
  if (isItem && !v.items.every((item) => isItem(item))) return undefined;
  return dayBucket(v.at, v.items);
}

/** The fragment of days `first..last` (0-based, inclusive) of a month bucket. */
export function sliceMonth(bucket: FragmentBucket, first: number, last: number): string {
  const o = bucket.o as number[];
  return first === 0 && last === o.length - 2 ? bucket.b : bucket.b.slice(o[first], o[last + 1]);
}

/** A JSON array from fragments (each item already followed by a comma). */
export function joinFragments(pieces: readonly string[]): string {
  const body = pieces.join('');
  return body.length === 0 ? '[]' : `[${body.slice(0, -1)}]`;
}
