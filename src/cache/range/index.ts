/** Date-range caching in day buckets, and query signatures for delta-fetched queries. */
export * from './range-days.js';
export * from './range-cache.js';
export * from './day-chunks.js';
export * from './query-signature.js';
