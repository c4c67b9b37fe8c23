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

/**
 * The read side of a `RangeCache` after its coverage is known: walks the days, reads cached
 * runs (parts in batches of about `partSize` items), fetches each missing run once, repairs a
 * day whose parts are gone, and writes fetched days back in batches.
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

  /** Serves a run of cached days; a day whose parts are gone is fetched again (only that day). */
  private async *readCached(
    scope: S,
    days: IsoDay[],
    heads: DayHead<T>[],
    writer: DayWriter<T>,
  ): AsyncGenerator<DayChunk<T>, void, undefined> {
    const partKey = this.options.partKey;
    if (!partKey) {
      for (let k = 0; k < days.length; k++) {
        const items = (heads[k] as InlineBucket<T>).items;
        if (items.length) yield { date: days[k], items };
      }
      return;
    }
    const index = heads as IndexBucket[];
    for (let k = 0; k < days.length;) {
      if (index[k].count === 0) {
        k++;
        continue;
      }
      if (index[k].parts > 1) {
        yield* this.readLargeDay(scope, days[k], index[k], writer);
        k++;
        continue;
      }
      // Batch consecutive single-part days into one read of at most about `partSize` items.
      const batch: number[] = [k];
      let total = index[k].count;
      for (k++; k < days.length; k++) {
        const h = index[k];
        if (h.count === 0) continue;
        if (h.parts > 1 || total + h.count > this.settings.partSize) break;
        batch.push(k);
        total += h.count;
      }
      const parts = await this.cache.pipelineGet<unknown>(
        batch.map((b) => partKey(scope, days[b], 0)),
      );
      for (let n = 0; n < batch.length; n++) {
        const items = parts[n];
        const date = days[batch[n]];
        if (Array.isArray(items) && items.length === index[batch[n]].count)
          yield { date, items: items as T[] };
        else yield* fetchSpan(this.options.fetch, scope, date, date, writer, 0);
      }
    }
  }

  /** Serves a day of several parts one part at a time; a missing part refetches the rest of the day. */
  private async *readLargeDay(
    scope: S,
    date: IsoDay,
    head: IndexBucket,
    writer: DayWriter<T>,
  ): AsyncGenerator<DayChunk<T>, void, undefined> {
    const partKey = this.options.partKey as NonNullable<RangeCacheOptions<T, S>['partKey']>;
    let served = 0;
    for (let p = 0; p < head.parts; p++) {
      const [items] = await this.cache.pipelineGet<unknown>([partKey(scope, date, p)]);
      if (!Array.isArray(items) || items.length === 0 || items.length > this.settings.partSize) {
        yield* fetchSpan(this.options.fetch, scope, date, date, writer, served);
        return;
      }
      served += items.length;
      yield { date, items: items as T[] };
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
