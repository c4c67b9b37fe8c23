/** Date-range caching in day buckets, and query signatures for delta-fetched queries. */
export * from './range-days.js';
export {
  DEFAULT_CLOSED_DAY_TTL_SECONDS,
  type RangeCacheOptions,
  type RangeFetchResult,
  type RangeFetcher,
  type RangeTtlRules,
} from './range-cache.options.js';
export type {
  RangeCoverage,
  RangeCoverageStatus,
  RangeResult,
  RangeStream,
} from './range-coverage.js';
export * from './range-cache.js';
export * from './day-chunks.js';
export * from './query-signature.js';
export * from './fragment-range-cache.js';
