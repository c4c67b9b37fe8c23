/** Serves a range's days in order: cached runs from the cache, missing runs from the source. */
import { Logger } from '@nestjs/common';
import type { CacheService } from '../cache.service.js';
import { RateLimitedLogger, errorSummary } from '../util/rate-limited-logger.js';
import type { DayChunk } from './day-chunks.js';
import { createDayWriter, type DayWriter } from './day-writer.js';
import type { DayHead, IndexBucket, InlineBucket, WriteEntry } from './range-buckets.js';
import type { RangeCacheOptions, RangeSettings } from './range-cache.options.js';
import type { IsoDay } from './range-days.js';
import { fetchSpan } from './range-fetch.js';
import { TextDayChunk, parseTextPart } from './text-part.js';

/**
 * The read side of a `RangeCache` after its coverage is known: walks the days, reads cached
 * runs (parts in batches of about `partSize` items), fetches each missing run once, repairs a
 * day whose parts are gone or corrupt, and writes fetched days back in batches.
 */
export class RangeWalker<T, S> {
  private readonly log = new RateLimitedLogger(new Logger('RangeCache'));

  constructor(
    private readonly cache: CacheService,
    private readonly options: RangeCacheOptions<T, S>,
    private readonly settings: RangeSettings,
  ) {}

  /** Walks the days in order: runs of cached days from the cache, runs of missing days from the source. */
  async *walk(
    scope: S,
    days: IsoDay[],
    heads: (DayHead<T> | undefined)[],
  ): AsyncGenerator<DayChunk<T>, void, undefined> {
    const writer = createDayWriter(scope, this.options, this.settings, (entries) =>
      this.store(entries),
    );
    try {
      for (let i = 0; i < days.length;) {
        const cached = heads[i] !== undefined;
        let j = i;
        while (j < days.length && (heads[j] !== undefined) === cached) j++;
        if (cached)
          yield* this.readCached(
            scope,
            days.slice(i, j),
            heads.slice(i, j) as DayHead<T>[],
            writer,
          );
        else yield* fetchSpan(this.options.fetch, scope, days[i], days[j - 1], writer, 0);
        i = j;
      }
    } finally {
      // Days completed so far are written even when the consumer stops early or the source fails.
      await writer.flush();
    }
  }

  /** Serves a run of cached days; a day whose parts are gone or corrupt is fetched again (only that day). */
  private async *readCached(
    scope: S,
    days: IsoDay[],
    heads: DayHead<T>[],
    writer: DayWriter<T>,
  ): AsyncGenerator<DayChunk<T>, void, undefined> {
    if (!this.options.partKey) {
      for (let k = 0; k < days.length; k++) {
        const items = (heads[k] as InlineBucket<T>).items;
        if (items.length) yield { date: days[k], items };
      }
      return;
    }
    yield* this.readParts(scope, days, heads as IndexBucket[], writer);
  }

  /**
   * Serves the parts of a run of cached days in order, read in batches of about `partSize`
   * items (parts of several days share a batch), the next batch read while the current one is
   * served: memory holds about two batches. A part that is missing or not what its day's index
   * says (count, encoding checks, hash) ends its day from the cache: the rest of that day is
   * fetched again (the items already served are skipped), and a part that was there but bad is
   * counted as corrupt.
   */
  private async *readParts(
    scope: S,
    days: IsoDay[],
    index: IndexBucket[],
    writer: DayWriter<T>,
  ): AsyncGenerator<DayChunk<T>, void, undefined> {
    const partKey = this.options.partKey as NonNullable<RangeCacheOptions<T, S>['partKey']>;
    const batches = planPartBatches(index, this.settings.partSize);
    const read = (b: number) => {
      const keys = batches[b].map((r) => partKey(scope, days[r.day], r.part));
      const values = this.cache.pipelineGet<unknown>(keys);
      values.catch(() => undefined); // awaited below; not left unhandled if the consumer stops first
      return values;
    };
    const served = new Array<number>(days.length).fill(0);
    const refetched = new Set<number>();
    let next = batches.length ? read(0) : undefined;
    for (let b = 0; next; b++) {
      const values = await next;
      next = b + 1 < batches.length ? read(b + 1) : undefined;
      for (let r = 0; r < batches[b].length; r++) {
        const { day, count } = batches[b][r];
        if (refetched.has(day)) continue;
        const chunk = partChunk<T>(days[day], values[r], count);
        if (chunk) {
          served[day] += count;
          yield chunk;
          continue;
        }
        if (values[r] !== undefined) this.cache.countersOf(this.options.keyType).corrupt++;
        refetched.add(day);
        yield* fetchSpan(this.options.fetch, scope, days[day], days[day], writer, served[day]);
      }
    }
  }

  /**
   * Stores entries in one batch; never throws (the caller already has the data from the source).
   * Live-day entries carry no fail-safe staleness, so Redis drops them at their short TTL.
   */
  private async store(entries: WriteEntry[]): Promise<void> {
    if (entries.length === 0) return;
    try {
      await this.cache.pipelineSet(entries);
    } catch (err) {
      this.log.warn(
        'write',
        `range cache write-back of ${entries.length} entries failed: ${errorSummary(err)}`,
      );
    }
  }
}

/** One part to read: its day (index into the run), its number, and the items its index promises. */
interface PartRef {
  day: number;
  part: number;
  count: number;
}

/**
 * The parts of the days of `index` in order (a day of `count` items has full parts of `partSize`
 * and a last part of the rest), grouped into batches of at most `partSize` items (a full part is
 * a batch of its own).
 */
function planPartBatches(index: readonly IndexBucket[], partSize: number): PartRef[][] {
  const batches: PartRef[][] = [];
  let batch: PartRef[] = [];
  let items = 0;
  for (let day = 0; day < index.length; day++) {
    const { count, parts } = index[day];
    for (let part = 0; part < parts; part++) {
      const n = part < parts - 1 ? partSize : count - partSize * (parts - 1);
      if (items + n > partSize && batch.length) {
        batches.push(batch);
        batch = [];
        items = 0;
      }
      batch.push({ day, part, count: n });
      items += n;
    }
  }
  if (batch.length) batches.push(batch);
  return batches;
}

/**
 * The chunk of a stored part that holds exactly `count` items: a text part (checked: count,
 * final newline, hash) or an array part (the array encoding, or parts written before text parts).
 * Undefined when the part is missing or not such a part.
 */
function partChunk<T>(date: IsoDay, value: unknown, count: number): DayChunk<T> | undefined {
  if (Array.isArray(value))
    return value.length === count ? { date, items: value as T[] } : undefined;
  const part = parseTextPart(value, count);
  return part ? new TextDayChunk<T>(date, part.t) : undefined;
}
