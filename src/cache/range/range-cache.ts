import type { CacheService } from '../cache.service.js';
import { CacheValidationError } from '../errors/cache-errors.js';
import { parseHead, type DayHead, type InlineBucket } from './range-buckets.js';
import {
  resolvePartEncoding,
  resolveRangeSettings,
  type RangeCacheOptions,
  type RangeSettings,
} from './range-cache.options.js';
import {
  countCoverage,
  planCoverage,
  type RangeCoverage,
  type RangeResult,
  type RangeStream,
} from './range-coverage.js';
import { checkDayRange, daysOf, type IsoDay } from './range-days.js';
import { RangeWalker } from './range-walker.js';
import { SingleFlight } from '../util/single-flight.js';

/** One batched read of a range's day keys: the days, each day's head, and the coverage. */
interface CoverageRead<T> {
  days: IsoDay[];
  heads: (DayHead<T> | undefined)[];
  coverage: RangeCoverage;
}

/**
 * Date-range cache in day buckets over `CacheService`: one key per (scope, day) holding the
 * day's items or an explicit empty marker. A request reads its coverage in one batch
 * (`pipelineGet`, L1 first), coalesces the missing days into contiguous ranges, fetches only
 * those (one fetcher call per range), writes them back in batched `pipelineSet`s, and answers
 * the merged result in date order. Closed days get a long TTL; the live day a short one.
 * Hits, partial hits and misses are counted on the key type's `range*` counters. With `partKey`
 * a day is an index over parts, stored as JSON arrays or (`encodePart: 'ndjson'`) as NDJSON
 * text that a warm stream hands on without parsing (`DayChunk.text`).
 */
export class RangeCache<T, S = string> {
  private readonly settings: RangeSettings;
  /** Part size of the parts layout; undefined for the inline layout. */
  private readonly headPartSize: number | undefined;
  private readonly walker: RangeWalker<T, S>;
  private readonly inflight = new SingleFlight<RangeResult<T>>();

  constructor(
    private readonly cache: CacheService,
    private readonly options: RangeCacheOptions<T, S>,
  ) {
    this.settings = resolveRangeSettings(options);
    resolvePartEncoding(options);
    this.headPartSize = options.partKey ? this.settings.partSize : undefined;
    this.walker = new RangeWalker(cache, options, this.settings);
  }

  /** TTL of `date`'s bucket in seconds: long for closed days, short for today and later. */
  ttlSecondsFor(date: IsoDay): number {
    return date < this.settings.today()
      ? this.settings.closedDaySeconds
      : this.settings.liveDaySeconds;
  }

  /**
   * The whole range in date order. Concurrent calls for the same scope and range share one
   * read and one fetch per gap (in this process).
   */
  async getRange(scope: S, from: IsoDay, to: IsoDay): Promise<RangeResult<T>> {
    checkDayRange(from, to, this.settings.maxDays);
    return this.inflight.run(`${this.options.dayKey(scope, from)}|${to}`, () =>
      this.collect(scope, from, to),
    );
  }

  /**
   * Reads the coverage of `[from, to]` (one batched read of the day keys) and answers it with a
   * `days()` stream that serves cached days and fetches each missing contiguous range once.
   */
  async open(scope: S, from: IsoDay, to: IsoDay): Promise<RangeStream<T>> {
    const { days, heads, coverage } = await this.readCoverage(scope, from, to);
    let started = false;
    return {
      ...coverage,
      days: () => {
        if (started)
          throw new CacheValidationError(
            'days',
            'days() of a range stream can be iterated only once',
          );
        started = true;
        return this.walker.walk(scope, days, heads);
      },
    };
  }

  /** One batched read of the day keys: each day's head (undefined when missing) and the coverage, counted. */
  private async readCoverage(scope: S, from: IsoDay, to: IsoDay): Promise<CoverageRead<T>> {
    checkDayRange(from, to, this.settings.maxDays);
    const days = daysOf(from, to);
    const raw = await this.cache.pipelineGet<unknown>(
      days.map((d) => this.options.dayKey(scope, d)),
    );
    const heads = raw.map((v) => parseHead<T>(v, this.headPartSize, this.options.isItem));
    const counters = this.cache.countersOf(this.options.keyType);
    // A stored day that is not a valid head is corrupt: counted here, fetched again and rewritten.
    for (let i = 0; i < raw.length; i++) if (raw[i] !== undefined && !heads[i]) counters.corrupt++;
    const coverage = planCoverage(days, heads);
    countCoverage(counters, coverage.status);
    return { days, heads, coverage };
  }

  /** Reads a whole range; a fully cached inline range is copied without going through the day stream. */
  private async collect(scope: S, from: IsoDay, to: IsoDay): Promise<RangeResult<T>> {
    const { days, heads, coverage } = await this.readCoverage(scope, from, to);
    const items: T[] = [];
    if (coverage.status === 'hit' && !this.options.partKey) {
      for (const head of heads)
        for (const item of (head as InlineBucket<T>).items) items.push(item);
    } else {
      for await (const chunk of this.walker.walk(scope, days, heads))
        for (const item of chunk.items) items.push(item);
    }
    return { ...coverage, items };
  }
}
