import { Module, type DynamicModule } from '@nestjs/common';
import { MarketCacheModule } from '../market-cache.module.js';
import type { MarketCacheModuleOptions } from '../market-cache.options.js';
import { CacheTestClock } from './cache-test-clock.js';

/** Options a test has no use for: the connection to a store (the testing module is always on memory). */
type StoreConnectionOption =
  | 'driver'
  | 'redisUrl'
  | 'clusterNodes'
  | 'sentinels'
  | 'sentinelName'
  | 'username'
  | 'password'
  | 'tls'
  | 'client'
  | 'fileDirectory'
  | 'commandTimeoutMs'
  | 'connectTimeoutMs';

/**
 * Options of `MarketCacheTestingModule.forRoot`: every cache option of `MarketCacheModule` but the
 * store connection (TTLs, staleness, SWR share, key prefix, L1 bounds, timeouts), plus the clock.
 */
export interface MarketCacheTestingOptions extends Omit<
  MarketCacheModuleOptions,
  StoreConnectionOption
> {
  /** Where the test clock starts: epoch milliseconds or a `Date`. Default: the real time at creation. */
  startAt?: number | Date;
  /** Register the cache providers globally, so feature modules under test see them. Default `true`. */
  isGlobal?: boolean;
}

/**
 * `MarketCacheModule` for a user's unit tests: the same providers (`CacheService`,
 * `CacheManager`, `QuotaService`, `SessionService`, `TieredCache`, ...) on the in-memory driver,
 * no Redis, plus an installed `CacheTestClock` to move time (expiry, stale serving, quota windows).
 *
 * ```ts
 * const moduleRef = await Test.createTestingModule({
 *   imports: [MarketCacheTestingModule.forRoot({ ttlSeconds: { stock_price: 60 } })],
 *   providers: [QuoteService],
 * }).compile();
 * const clock = moduleRef.get(CacheTestClock);
 * // ... clock.advanceSeconds(61); ... await moduleRef.close(); // gives Date.now() back
 * ```
 */
@Module({})
export class MarketCacheTestingModule {
  /** The cache on the memory driver with a test clock; options are validated as `forRoot`'s. */
  static forRoot(options: MarketCacheTestingOptions = {}): DynamicModule {
    const { startAt, isGlobal = true, ...cache } = options;
    return {
      module: MarketCacheTestingModule,
      global: isGlobal,
      imports: [MarketCacheModule.forRoot({ ...cache, driver: 'memory', isGlobal })],
      providers: [
        {
          provide: CacheTestClock,
          useFactory: () => new CacheTestClock({ startAt }).install(),
        },
      ],
      exports: [MarketCacheModule, CacheTestClock],
    };
  }
}
