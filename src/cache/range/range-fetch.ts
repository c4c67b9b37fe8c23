/** One fetch of a missing contiguous span from the source, checked and handed to the writer. */
import { CacheError } from '../errors/cache-errors.js';
import type { DayChunk } from './day-chunks.js';
import type { DayWriter } from './day-writer.js';
import type { RangeFetcher } from './range-cache.options.js';
import { dayNumber, dayOfNumber, type IsoDay } from './range-days.js';
import { TextDayChunk, dropLines } from './text-part.js';

/**
 * Fetches `[from, to]` once, yields its chunks (minus the first `skip` items, already served;
 * with their text when the writer stores text parts) and hands each completed day (or empty
 * day) to the writer. Throws `CacheError` (`CACHE_FACTORY_FAILED`) when the source answers days
 * out of order or outside the span.
 */
export async function* fetchSpan<T, S>(
  fetch: RangeFetcher<T, S>,
  scope: S,
  from: IsoDay,
  to: IsoDay,
  writer: DayWriter<T>,
  skip: number,
): AsyncGenerator<DayChunk<T>, void, undefined> {
  const source = await fetch(scope, from, to);
  writer.beginRun();
  const end = dayNumber(to);
  let next = dayNumber(from); // first day not yet completed
  let current: IsoDay | undefined;
  let skipLeft = skip;
  for await (const chunk of source) {
    if (chunk.date !== current) {
      // A new day: check its order, complete the previous day and mark the days skipped over.
      checkNewDay(chunk.date, current, from, to);
      if (current !== undefined) await writer.completeDay(current);
      // Days skipped over had no items: remembered as empty.
      for (const target = dayNumber(chunk.date); next < target; next++)
        await writer.emptyDay(dayOfNumber(next));
      next = dayNumber(chunk.date) + 1;
      current = chunk.date;
      writer.startDay();
    }
    // Every item is written; only those not served before are yielded (with their NDJSON text
    // when the writer stores text parts: each item is encoded once).
    const text = await writer.add(chunk.date, chunk.items);
    if (skipLeft >= chunk.items.length) {
      skipLeft -= chunk.items.length;
      continue;
    }
    const items = skipLeft > 0 ? chunk.items.slice(skipLeft) : chunk.items;
    if (text === undefined) yield skipLeft > 0 ? { date: chunk.date, items } : chunk;
    else yield new TextDayChunk(chunk.date, skipLeft > 0 ? dropLines(text, skipLeft) : text, items);
    skipLeft = 0;
  }
  // The last day, and the days after it the source had nothing for.
  if (current !== undefined) await writer.completeDay(current);
  for (; next <= end; next++) await writer.emptyDay(dayOfNumber(next));
}

/**
 * Checks the day a source's chunk starts: after the day before it (`current`) and inside
 * `[from, to]`; throws `CacheError` (`CACHE_FACTORY_FAILED`) otherwise.
 */
export function checkNewDay(
  date: IsoDay,
  current: IsoDay | undefined,
  from: IsoDay,
  to: IsoDay,
): void {
  if (current !== undefined && date < current)
    throw new CacheError('CACHE_FACTORY_FAILED', `range fetcher answered ${date} after ${current}`);
  if (date < from || date > to)
    throw new CacheError(
      'CACHE_FACTORY_FAILED',
      `range fetcher answered ${date}, outside ${from}..${to}`,
    );
}
