/** How much of a range the cache holds: the coverage types and the plan of the missing spans. */
import type { TypeCounters } from '../tiered/cache-stats.js';
import type { DayChunk } from './day-chunks.js';
import { contiguousRuns, type IsoDay } from './range-days.js';

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

/**
 * The coverage of `days` given each day's cached head (undefined = missing): the missing days
 * coalesced into contiguous spans, and `asOf` = the oldest head's `at` (now when none is cached).
 */
export function planCoverage(
  days: readonly IsoDay[],
  heads: ReadonlyArray<{ at: number } | undefined>,
): RangeCoverage {
  const missing = days.filter((_, i) => heads[i] === undefined);
  const cachedDays = days.length - missing.length;
  const status: RangeCoverageStatus =
    missing.length === 0 ? 'hit' : cachedDays === 0 ? 'miss' : 'partial';
  let asOf = Date.now();
  for (const h of heads) if (h !== undefined && h.at < asOf) asOf = h.at;
  return {
    status,
    fetched: contiguousRuns(missing),
    totalDays: days.length,
    cachedDays,
    asOf,
  };
}

/** Counts one range read on the key type's `rangeHits` / `rangePartials` / `rangeMisses`. */
export function countCoverage(counters: TypeCounters, status: RangeCoverageStatus): void {
  if (status === 'hit') counters.rangeHits++;
  else if (status === 'partial') counters.rangePartials++;
  else counters.rangeMisses++;
}
