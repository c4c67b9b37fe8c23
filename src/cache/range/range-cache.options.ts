/** Options of a `RangeCache`, their defaults and their start-up validation. */
import { CacheValidationError } from '../errors/cache-errors.js';
import type { CacheKeyType } from '../keys/cache-key-type.js';
import { positiveInteger, positiveNumber } from '../util/arguments.js';
import type { DayChunk } from './day-chunks.js';
import { todayUtcDay, type IsoDay } from './range-days.js';

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
  /**
   * How a part is stored (parts layout). `'array'` (default): the items as a JSON array.
   * `'ndjson'`: the items as NDJSON text with their count and a content hash (`{ n, h, t }`),
   * so a warm stream hands the stored text on (`DayChunk.text`) without parsing it; parts of the
   * array encoding are still read (a rolling deploy keeps the days already cached).
   */
  encodePart?: 'array' | 'ndjson';
  /** The source of a contiguous range; called once per missing contiguous range. */
  fetch: RangeFetcher<T, S>;
  /** TTL rules of day buckets. */
  ttl: RangeTtlRules;
  /** Longest range accepted, in days. Default 10 000. */
  maxDays?: number;
  /** Items (or entries) gathered before a write-back pipeline is sent. Default 2000. */
  writeBatchItems?: number;
  /**
   * Shape check of one cached item (inline layout). A day holding an item it refuses is corrupt:
   * counted (`corrupt` of the key type), fetched again and rewritten. Default: every item passes.
   */
  isItem?: (item: unknown) => boolean;
}

/** How a part of the parts layout is stored (`RangeCacheOptions.encodePart`). */
export type PartEncoding = NonNullable<RangeCacheOptions<unknown, unknown>['encodePart']>;

/** Default TTL of a closed day, in seconds (30 days). */
export const DEFAULT_CLOSED_DAY_TTL_SECONDS = 30 * 86_400;

/** The numeric settings of a `RangeCache`, defaults applied and checked. */
export interface RangeSettings {
  /** Most items per part (parts layout). */
  partSize: number;
  /** Longest range accepted, in days. */
  maxDays: number;
  /** Items gathered before a write-back pipeline is sent. */
  writeBatchItems: number;
  /** TTL of a closed day, in seconds. */
  closedDaySeconds: number;
  /** TTL of the live day and later days, in seconds. */
  liveDaySeconds: number;
  /** Today's date, `YYYY-MM-DD`. */
  today: () => IsoDay;
}

/**
 * The part encoding of `options` (default `'array'`); throws `CacheValidationError` naming
 * `encodePart` for an unknown encoding, or `'ndjson'` without `partKey` (the inline layout has no parts).
 */
export function resolvePartEncoding<T, S>(options: RangeCacheOptions<T, S>): PartEncoding {
  const encoding: unknown = options.encodePart ?? 'array';
  if (encoding !== 'array' && encoding !== 'ndjson')
    throw new CacheValidationError('encodePart', `encodePart must be 'array' or 'ndjson'`);
  if (encoding === 'ndjson' && !options.partKey)
    throw new CacheValidationError(
      'encodePart',
      `encodePart 'ndjson' needs partKey (parts layout)`,
    );
  return encoding;
}

/** Applies the defaults of `options`; throws `CacheValidationError` naming a bad setting. */
export function resolveRangeSettings<T, S>(options: RangeCacheOptions<T, S>): RangeSettings {
  return {
    partSize: positiveInteger(options.partSize ?? 2000, 'partSize'),
    maxDays: positiveInteger(options.maxDays ?? 10_000, 'maxDays'),
    writeBatchItems: positiveInteger(options.writeBatchItems ?? 2000, 'writeBatchItems'),
    closedDaySeconds: positiveNumber(
      options.ttl.closedDaySeconds ?? DEFAULT_CLOSED_DAY_TTL_SECONDS,
      'ttl.closedDaySeconds',
      'seconds',
    ),
    liveDaySeconds: positiveNumber(options.ttl.liveDaySeconds, 'ttl.liveDaySeconds', 'seconds'),
    today: options.ttl.today ?? todayUtcDay,
  };
}
