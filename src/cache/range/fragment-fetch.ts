/** One fetch of a missing contiguous span from the source, as day buckets of bytes. */
import { dayBucket, type FragmentBucket } from './fragment-bucket.js';
import type { RangeFetcher } from './range-cache.options.js';
import { checkNewDay } from './range-fetch.js';
import { dayNumber, dayOfNumber, type IsoDay } from './range-days.js';

/**
 * Fetches `[from, to]` once and hands every day of it to `put` as a bucket (a day the source
 * answered nothing for is an empty bucket), in date order. Throws `CacheError`
 * (`CACHE_FACTORY_FAILED`) when the source answers days out of order or outside the span; days
 * completed before that were already handed over.
 */
export async function fetchDays<T, S>(
  fetch: RangeFetcher<T, S>,
  scope: S,
  from: IsoDay,
  to: IsoDay,
  put: (day: IsoDay, bucket: FragmentBucket) => void,
): Promise<void> {
  const at = Date.now();
  const source = await fetch(scope, from, to);
  let next = dayNumber(from); // first day not yet handed over
  let current: IsoDay | undefined;
  let items: T[] = [];
  /** Hands over the day in progress, then the days before `until` (a day number) as empty. */
  const complete = (until: number) => {
    if (current !== undefined) {
      put(current, dayBucket(at, items));
      next = dayNumber(current) + 1;
    }
    for (; next < until; next++) put(dayOfNumber(next), dayBucket(at, []));
  };
  for await (const chunk of source) {
    if (chunk.date !== current) {
      checkNewDay(chunk.date, current, from, to);
      complete(dayNumber(chunk.date));
      current = chunk.date;
      items = [];
    }
    for (const item of chunk.items) items.push(item);
  }
  complete(dayNumber(to) + 1);
}
