import { CacheError } from '../errors/cache-errors.js';
import type { IsoDay } from './range-days.js';

/** Items of one day (a day may arrive in several consecutive chunks). */
export interface DayChunk<T> {
  date: IsoDay;
  /** The items (parsed from `text` on first use when the chunk came from text). */
  readonly items: readonly T[];
  /**
   * The same items as NDJSON (each item's JSON followed by `\n`), when the range cache stores
   * text parts (`encodePart: 'ndjson'`): a consumer writing NDJSON sends it as it is.
   */
  readonly text?: string;
}

/**
 * Groups items that arrive in date order (sync or async) into day chunks of at most `maxChunk`
 * items (default: a whole day per chunk), for a `RangeFetcher`. Memory holds one chunk.
 * Throws `CacheError` (`CACHE_FACTORY_FAILED`) when a date goes backwards.
 */
export async function* chunkByDay<T>(
  items: AsyncIterable<T> | Iterable<T>,
  dateOf: (item: T) => IsoDay,
  maxChunk = Number.POSITIVE_INFINITY,
): AsyncGenerator<DayChunk<T>, void, undefined> {
  let date: IsoDay | undefined;
  let chunk: T[] = [];
  for await (const item of items) {
    const d = dateOf(item);
    if (d !== date) {
      if (date !== undefined && d < date)
        throw new CacheError(
          'CACHE_FACTORY_FAILED',
          `source items are not in date order: ${d} after ${date}`,
        );
      if (chunk.length) yield { date: date as IsoDay, items: chunk };
      date = d;
      chunk = [];
    }
    chunk.push(item);
    if (chunk.length >= maxChunk) {
      yield { date: d, items: chunk };
      chunk = [];
    }
  }
  if (chunk.length && date !== undefined) yield { date, items: chunk };
}
