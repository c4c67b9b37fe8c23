/** The two stored layouts of a day bucket (inline items, or an index over parts) and their parsing. */
import type { CacheKeyType } from '../keys/cache-key-type.js';
import type { BatchEntry } from '../tiered/tiered-cache.js';

/** A day bucket of the inline layout: the day's items (`[]` = no trading that day). */
export interface InlineBucket<T> {
  /** Epoch ms when the source produced the day. */
  at: number;
  items: T[];
}

/** A day bucket of the parts layout: how many items and parts the day has. */
export interface IndexBucket {
  /** Epoch ms when the source produced the day. */
  at: number;
  count: number;
  parts: number;
}

/** What a day key holds, in either layout. */
export type DayHead<T> = InlineBucket<T> | IndexBucket;

/** One write-back entry, always with an explicit TTL (seconds) and key type. */
export type WriteEntry = BatchEntry & { ttl: number; keyType: CacheKeyType };

/**
 * A cached day value in the layout given by `partSize` (undefined = inline), or undefined when it
 * is absent or not ours (then the day is fetched again).
 */
export function parseHead<T>(value: unknown, partSize: number | undefined): DayHead<T> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Partial<InlineBucket<T> & IndexBucket>;
  if (typeof v.at !== 'number') return undefined;
  if (partSize !== undefined) {
    // A head written with another part size is not ours any more: the day is fetched again.
    const count = v.count as number;
    return Number.isInteger(count) && count >= 0 && v.parts === Math.ceil(count / partSize)
      ? (v as IndexBucket)
      : undefined;
  }
  return Array.isArray(v.items) ? (v as InlineBucket<T>) : undefined;
}
