import { Logger } from '@nestjs/common';
import type { CacheService } from '../cache.service.js';
import { CacheError, CacheValidationError } from '../errors/cache-errors.js';
import type { CacheKeyType } from '../keys/cache-key-type.js';
import type { BatchEntry } from '../tiered/tiered-cache.js';
import { RateLimitedLogger, errorSummary } from '../util/rate-limited-logger.js';
import {
  checkDayRange,
  contiguousRuns,
  dayNumber,
  dayOfNumber,
  daysOf,
  todayUtcDay,
  type IsoDay,
} from './range-days.js';

/** Items of one day (a day may arrive in several consecutive chunks). */
export interface DayChunk<T> {
  date: IsoDay;
  items: readonly T[];
}

/** What a fetcher answers: day chunks in ascending date order, only for days that have items. */
export type RangeFetchResult<T> = AsyncIterable<DayChunk<T>> | Iterable<DayChunk<T>>;

/**
 * Fetches the contiguous range `[from, to]` (inclusive) of `scope` from the source. Days of the
 * range it answers no items for are remembered as empty ("no trading").
 */
export type RangeFetcher<T, S> = (
  scope: S,
  from: IsoDay,
  to: IsoDay,
) => RangeFetchResult<T> | Promise<RangeFetchResult<T>>;

/** TTL rules of day buckets. */
export interface RangeTtlRules {
  /** TTL of a closed day (before today), in seconds: such days are immutable. Default 2 592 000 (30 days). */
  closedDaySeconds?: number;
  /** TTL of the live day (today, UTC) and of later days, in seconds; keep it ≤ the quote TTL. */
  liveDaySeconds: number;
  /** Today's date, `YYYY-MM-DD`. Default: the system clock in UTC. */
  today?: () => IsoDay;
}

/** Options of a `RangeCache`. */
export interface RangeCacheOptions<T, S> {
  /** Key type of every bucket (TTL fallback, staleness, and the range hit/partial/miss counters). */
  keyType: CacheKeyType;
  /** Logical key (from `CacheKeyBuilder`) of one day's bucket of `scope`. */
  dayKey: (scope: S, date: IsoDay) => string;
  /**
   * Logical key of part `part` (0-based) of one day. When given, the day key holds only a small
   * index `{ at, count, parts }` and the items live in parts of at most `partSize` items, so a
   * range can be streamed with bounded memory. When absent, the day key holds the items inline.
   */
  partKey?: (scope: S, date: IsoDay, part: number) => string;
  /** Most items per part (parts layout). Default 2000. */
  partSize?: number;
  /** The source of a contiguous range; called once per missing contiguous range. */
  fetch: RangeFetcher<T, S>;
  /** TTL rules of day buckets. */
  ttl: RangeTtlRules;
  /** Longest range accepted, in days. Default 10 000. */
  maxDays?: number;
  /** Items (or entries) gathered before a write-back pipeline is sent. Default 2000. */
  writeBatchItems?: number;
}

/** How much of a range the cache held: all of it, some of it, or none. */
export type RangeCoverageStatus = 'hit' | 'partial' | 'miss';

/** Coverage of a range, known after one batched read of its day keys. */
export interface RangeCoverage {
  status: RangeCoverageStatus;
  /** Contiguous ranges fetched (or to be fetched) from the source, in order, inclusive. */
  fetched: Array<[IsoDay, IsoDay]>;
  /** Calendar days in the range. */
  totalDays: number;
  /** Days served from the cache. */
  cachedDays: number;
  /** Epoch ms when the source produced the oldest day of the answer. */
  asOf: number;
}

/** A range read as one array, in date order. */
export interface RangeResult<T> extends RangeCoverage {
  items: T[];
}

/** A range read as a stream: `days()` yields chunks in date order, fetching gaps as it reaches them. */
export interface RangeStream<T> extends RangeCoverage {
  /** The chunks in date order; call once. Memory holds at most about two parts (or batches). */
  days(): AsyncGenerator<DayChunk<T>, void, undefined>;
}

/** A day bucket of the inline layout: the day's items (`[]` = no trading that day). */
interface InlineBucket<T> {
  at: number;
  items: T[];
}

/** A day bucket of the parts layout: how many items and parts the day has. */
interface IndexBucket {
  at: number;
  count: number;
  parts: number;
}

type Head<T> = InlineBucket<T> | IndexBucket;
/** One write-back entry; `live` marks the live day's keys (TTL trimmed after the write). */
type WriteEntry = BatchEntry & { ttl: number; keyType: CacheKeyType };

/** Default TTL of a closed day, in seconds (30 days). */
export const DEFAULT_CLOSED_DAY_TTL_SECONDS = 30 * 86_400;

/**
 * Date-range cache in day buckets over `CacheService`: one key per (scope, day) holding the
 * day's items or an explicit empty marker. A request reads its coverage in one batch
 * (`pipelineGet`, L1 first), coalesces the missing days into contiguous ranges, fetches only
 * those (one fetcher call per range), writes them back in batched `pipelineSet`s, and answers
 * the merged result in date order. Closed days get a long TTL; the live day a short one.
 * Hits, partial hits and misses are counted on the key type's `range*` counters.
 */
export class RangeCache<T, S = string> {
  private readonly partSize: number;
  private readonly maxDays: number;
  private readonly writeBatchItems: number;
  private readonly closedDaySeconds: number;
  private readonly liveDaySeconds: number;
  private readonly today: () => IsoDay;
  private readonly inflight = new Map<string, Promise<RangeResult<T>>>();
  private readonly log = new RateLimitedLogger(new Logger(RangeCache.name));

  constructor(
    private readonly cache: CacheService,
    private readonly options: RangeCacheOptions<T, S>,
  ) {
    this.partSize = positiveInt(options.partSize ?? 2000, 'partSize');
    this.maxDays = positiveInt(options.maxDays ?? 10_000, 'maxDays');
    this.writeBatchItems = positiveInt(options.writeBatchItems ?? 2000, 'writeBatchItems');
    this.closedDaySeconds = positiveSeconds(
      options.ttl.closedDaySeconds ?? DEFAULT_CLOSED_DAY_TTL_SECONDS,
      'ttl.closedDaySeconds',
    );
    this.liveDaySeconds = positiveSeconds(options.ttl.liveDaySeconds, 'ttl.liveDaySeconds');
    this.today = options.ttl.today ?? todayUtcDay;
  }

  /** TTL of `date`'s bucket in seconds: long for closed days, short for today and later. */
  ttlSecondsFor(date: IsoDay): number {
    return date < this.today() ? this.closedDaySeconds : this.liveDaySeconds;
  }

  /**
   * The whole range in date order. Concurrent calls for the same scope and range share one
   * read and one fetch per gap (in this process).
   */
  async getRange(scope: S, from: IsoDay, to: IsoDay): Promise<RangeResult<T>> {
    checkDayRange(from, to, this.maxDays);
    const flightKey = `${this.options.dayKey(scope, from)}|${to}`;
    const running = this.inflight.get(flightKey);
    if (running) return running;
    const work = this.collect(scope, from, to).finally(() => this.inflight.delete(flightKey));
    this.inflight.set(flightKey, work);
    return work;
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
        return this.walk(scope, days, heads);
      },
    };
  }

  /** One batched read of the day keys: each day's head (undefined when missing) and the coverage, counted. */
  private async readCoverage(
    scope: S,
    from: IsoDay,
    to: IsoDay,
  ): Promise<{ days: IsoDay[]; heads: (Head<T> | undefined)[]; coverage: RangeCoverage }> {
    checkDayRange(from, to, this.maxDays);
    const days = daysOf(from, to);
    const raw = await this.cache.pipelineGet<unknown>(
      days.map((d) => this.options.dayKey(scope, d)),
    );
    const heads = raw.map((v) => this.parseHead(v));
    const missing = days.filter((_, i) => heads[i] === undefined);
    const cachedDays = days.length - missing.length;
    const status: RangeCoverageStatus =
      missing.length === 0 ? 'hit' : cachedDays === 0 ? 'miss' : 'partial';
    const counters = this.cache.tiered.stats.of(this.options.keyType);
    if (status === 'hit') counters.rangeHits++;
    else if (status === 'partial') counters.rangePartials++;
    else counters.rangeMisses++;
    let asOf = Date.now();
    for (const h of heads) if (h !== undefined && h.at < asOf) asOf = h.at;
    return {
      days,
      heads,
      coverage: {
        status,
        fetched: contiguousRuns(missing),
        totalDays: days.length,
        cachedDays,
        asOf,
      },
    };
  }

  /** Reads a whole range; a fully cached inline range is copied without going through the day stream. */
  private async collect(scope: S, from: IsoDay, to: IsoDay): Promise<RangeResult<T>> {
    const { days, heads, coverage } = await this.readCoverage(scope, from, to);
    const items: T[] = [];
    if (coverage.status === 'hit' && !this.options.partKey) {
      for (const head of heads)
        for (const item of (head as InlineBucket<T>).items) items.push(item);
    } else {
      for await (const chunk of this.walk(scope, days, heads))
        for (const item of chunk.items) items.push(item);
    }
    return { ...coverage, items };
  }

  /** Walks the days in order: runs of cached days from the cache, runs of missing days from the source. */
  private async *walk(
    scope: S,
    days: IsoDay[],
    heads: (Head<T> | undefined)[],
  ): AsyncGenerator<DayChunk<T>, void, undefined> {
    const writer = this.writerFor(scope);
    try {
      for (let i = 0; i < days.length;) {
        const cached = heads[i] !== undefined;
        let j = i;
        while (j < days.length && (heads[j] !== undefined) === cached) j++;
        if (cached)
          yield* this.readCached(scope, days.slice(i, j), heads.slice(i, j) as Head<T>[], writer);
        else yield* this.fetchRun(scope, days[i], days[j - 1], writer, 0);
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
    heads: Head<T>[],
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
        if (h.parts > 1 || total + h.count > this.partSize) break;
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
        else yield* this.fetchRun(scope, date, date, writer, 0);
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
      if (!Array.isArray(items) || items.length === 0 || items.length > this.partSize) {
        yield* this.fetchRun(scope, date, date, writer, served);
        return;
      }
      served += items.length;
      yield { date, items: items as T[] };
    }
  }

  /**
   * Fetches `[from, to]` once, yields its chunks (minus the first `skip` items, already served)
   * and hands each completed day (or empty day) to the writer.
   */
  private async *fetchRun(
    scope: S,
    from: IsoDay,
    to: IsoDay,
    writer: DayWriter<T>,
    skip: number,
  ): AsyncGenerator<DayChunk<T>, void, undefined> {
    const source = await this.options.fetch(scope, from, to);
    writer.beginRun();
    const end = dayNumber(to);
    let next = dayNumber(from); // first day not yet completed
    let current: IsoDay | undefined;
    let skipLeft = skip;
    for await (const chunk of source) {
      if (chunk.date !== current) {
        if (current !== undefined && chunk.date < current)
          throw new CacheError(
            'CACHE_FACTORY_FAILED',
            `range fetcher answered ${chunk.date} after ${current}`,
          );
        if (chunk.date < from || chunk.date > to)
          throw new CacheError(
            'CACHE_FACTORY_FAILED',
            `range fetcher answered ${chunk.date}, outside ${from}..${to}`,
          );
        if (current !== undefined) await writer.completeDay(current);
        // Days skipped over had no items: remembered as empty.
        for (const target = dayNumber(chunk.date); next < target; next++)
          await writer.emptyDay(dayOfNumber(next));
        next = dayNumber(chunk.date) + 1;
        current = chunk.date;
        writer.startDay();
      }
      await writer.add(chunk.date, chunk.items);
      if (skipLeft >= chunk.items.length) {
        skipLeft -= chunk.items.length;
        continue;
      }
      yield skipLeft > 0 ? { date: chunk.date, items: chunk.items.slice(skipLeft) } : chunk;
      skipLeft = 0;
    }
    if (current !== undefined) await writer.completeDay(current);
    for (; next <= end; next++) await writer.emptyDay(dayOfNumber(next));
  }

  /** A cached day value in this cache's layout, or undefined (absent or not ours: refetched). */
  private parseHead(value: unknown): Head<T> | undefined {
    if (typeof value !== 'object' || value === null) return undefined;
    const v = value as Partial<InlineBucket<T> & IndexBucket>;
    if (typeof v.at !== 'number') return undefined;
    if (this.options.partKey) {
      // A head written with another part size is not ours any more: the day is fetched again.
      const count = v.count as number;
      return Number.isInteger(count) && count >= 0 && v.parts === Math.ceil(count / this.partSize)
        ? (v as IndexBucket)
        : undefined;
    }
    return Array.isArray(v.items) ? (v as InlineBucket<T>) : undefined;
  }

  /** The writer of one walk: its closures build entries in this cache's layout and store them. */
  private writerFor(scope: S): DayWriter<T> {
    const { keyType, dayKey, partKey } = this.options;
    const entry = (key: string, date: IsoDay, value: unknown): WriteEntry => {
      const live = date >= this.today();
      return {
        key,
        value,
        ttl: live ? this.liveDaySeconds : this.closedDaySeconds,
        keyType,
        maxStalenessSeconds: live ? 0 : undefined,
      };
    };
    return new DayWriter<T>({
      partSize: partKey ? this.partSize : undefined,
      batchItems: this.writeBatchItems,
      dayEntries: (date, at, rest, count, restPart) => {
        if (!partKey)
          return [entry(dayKey(scope, date), date, { at, items: rest } satisfies InlineBucket<T>)];
        const out = rest.length ? [entry(partKey(scope, date, restPart), date, rest)] : [];
        out.push(
          entry(dayKey(scope, date), date, {
            at,
            count,
            parts: Math.ceil(count / this.partSize),
          } satisfies IndexBucket),
        );
        return out;
      },
      partEntry: (date, part, items) =>
        entry((partKey as NonNullable<typeof partKey>)(scope, date, part), date, items),
      store: (entries) => this.store(entries),
    });
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

/** What a `DayWriter` needs from its cache: layout facts and entry builders. */
interface DayWriterHooks<T> {
  /** Most items per part; undefined for the inline layout (a day is written whole). */
  partSize: number | undefined;
  batchItems: number;
  /** Entries of a completed day: the items not yet cut into parts (`rest`, starting at part `restPart`) and its head. */
  dayEntries(date: IsoDay, at: number, rest: T[], count: number, restPart: number): WriteEntry[];
  /** Entry of a full part cut from a day still arriving. */
  partEntry(date: IsoDay, part: number, items: T[]): WriteEntry;
  store(entries: WriteEntry[]): Promise<void>;
}

/** Gathers completed days (and full parts of a large day still arriving) and writes them in batches. */
class DayWriter<T> {
  private pending: WriteEntry[] = [];
  private pendingItems = 0;
  private buffer: T[] = [];
  private count = 0;
  private partsCut = 0;
  private runAt = Date.now();

  constructor(private readonly hooks: DayWriterHooks<T>) {}

  /** Marks the start of a source fetch: its days carry this time as `at`. */
  beginRun(): void {
    this.runAt = Date.now();
  }

  /** Starts collecting a day (a day not completed is never written). */
  startDay(): void {
    this.buffer = [];
    this.count = 0;
    this.partsCut = 0;
  }

  /** Adds items of the current day; full parts are queued (and written) at once. */
  async add(date: IsoDay, items: readonly T[]): Promise<void> {
    const { partSize } = this.hooks;
    for (const item of items) {
      this.buffer.push(item);
      if (partSize !== undefined && this.buffer.length === partSize) {
        this.enqueue([this.hooks.partEntry(date, this.partsCut++, this.buffer)], partSize);
        this.buffer = [];
      }
    }
    this.count += items.length;
    await this.flushIfFull();
  }

  /** Queues the current day's remaining items and its head. */
  async completeDay(date: IsoDay): Promise<void> {
    this.enqueue(
      this.hooks.dayEntries(date, this.runAt, this.buffer, this.count, this.partsCut),
      this.buffer.length,
    );
    this.buffer = [];
    await this.flushIfFull();
  }

  /** Queues the "no items" head of a day. */
  async emptyDay(date: IsoDay): Promise<void> {
    this.enqueue(this.hooks.dayEntries(date, this.runAt, [], 0, 0), 0);
    await this.flushIfFull();
  }

  /** Writes every queued entry (never throws). */
  async flush(): Promise<void> {
    const entries = this.pending;
    this.pending = [];
    this.pendingItems = 0;
    await this.hooks.store(entries);
  }

  private enqueue(entries: WriteEntry[], items: number): void {
    for (const e of entries) this.pending.push(e);
    this.pendingItems += items;
  }

  private async flushIfFull(): Promise<void> {
    if (this.pendingItems >= this.hooks.batchItems || this.pending.length >= 5000)
      await this.flush();
  }
}

function positiveInt(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new CacheValidationError(field, `${field} must be a positive integer`);
  return value;
}

function positiveSeconds(value: number, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    throw new CacheValidationError(field, `${field} must be a positive number of seconds`);
  return value;
}
