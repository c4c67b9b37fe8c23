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

/** Largest instant a `Date` can hold, in epoch ms. */
const MAX_INSTANT_MS = 8.64e15;

/** Checks one cached item of a day before it is served (`RangeCacheOptions.isItem`). */
export type ItemCheck = (item: unknown) => boolean;

/**
 * A cached day value in the layout given by `partSize` (undefined = inline), or undefined when it
 * is absent or not ours (then the day is fetched again): not an object, `at` not an instant a
 * `Date` can hold, an index whose counts do not add up, or (inline layout) `items` that is not an
 * array or holds an item `isItem` refuses.
 */
export function parseHead<T>(
  value: unknown,
  partSize: number | undefined,
  isItem?: ItemCheck,
): DayHead<T> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as Partial<InlineBucket<T> & IndexBucket>;
  if (typeof v.at !== 'number' || !(v.at >= 0 && v.at <= MAX_INSTANT_MS)) return undefined;
  if (partSize !== undefined) {
    // A head written with another part size is not ours any more: the day is fetched again.
    const count = v.count as number;
    return Number.isInteger(count) && count >= 0 && v.parts === Math.ceil(count / partSize)
      ? (v as IndexBucket)
      : undefined;
  }
  if (!Array.isArray(v.items)) return undefined;
  if (isItem && !itemsPass(v.items, isItem)) return undefined;
  return v as InlineBucket<T>;
}

/**
 * Frozen item lists that passed a check, per check. L1 hands out the same frozen day value on
 * every hit, so each day is checked once when it enters L1, not again on every warm request.
 */
const passed = new WeakMap<ItemCheck, WeakSet<readonly unknown[]>>();

function itemsPass(items: readonly unknown[], isItem: ItemCheck): boolean {
  let seen = passed.get(isItem);
  if (seen?.has(items)) return true;
  if (!items.every((item) => isItem(item))) return false;
  // Only a frozen list can be remembered: a mutable one could change after the check.
  if (Object.isFrozen(items)) {
    if (!seen) passed.set(isItem, (seen = new WeakSet()));
    seen.add(items);
  }
  return true;
}
