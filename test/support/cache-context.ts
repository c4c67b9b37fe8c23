import { Test } from '@nestjs/testing';
import type { INestApplicationContext } from '@nestjs/common';
import { CacheManager } from '../../src/cache/cache.manager.js';
import { CacheService } from '../../src/cache/cache.service.js';
import { MARKET_CACHE_STORE } from '../../src/cache/constants.js';
import { MarketCacheModule } from '../../src/cache/market-cache.module.js';
import type { MarketCacheModuleOptions } from '../../src/cache/market-cache.options.js';
import type { CacheStore } from '../../src/cache/stores/cache-store.js';
import { TieredCache } from '../../src/cache/tiered/tiered-cache.js';

/** One application context with the cache module, as a test sees it. */
export interface CacheContext {
  app: INestApplicationContext;
  cache: CacheService;
  manager: CacheManager;
  tiered: TieredCache;
  store: CacheStore;
  close(): Promise<void>;
}

/**
 * Redis command timeout of a test context unless the test sets its own. The library's default
 * (250 ms) is a production latency budget: on a loaded machine a healthy harness Redis can answer
 * later than that, and a test about correctness must not turn into a test of the machine's speed.
 * Tests whose subject is the timeout set `commandTimeoutMs` themselves.
 */
const TEST_COMMAND_TIMEOUT_MS = 2000;

/** Starts a Nest application context importing `MarketCacheModule.forRoot(options)`. */
export async function createCacheContext(options: MarketCacheModuleOptions): Promise<CacheContext> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      MarketCacheModule.forRoot({
        ...options,
        commandTimeoutMs: options.commandTimeoutMs ?? TEST_COMMAND_TIMEOUT_MS,
      }),
    ],
  }).compile();
  const app = await moduleRef.init();
  app.enableShutdownHooks?.();
  return {
    app,
    cache: app.get(CacheService),
    manager: app.get(CacheManager),
    tiered: app.get(TieredCache),
    store: app.get<CacheStore>(MARKET_CACHE_STORE),
    close: () => app.close(),
  };
}

/** A random key prefix, so suites sharing one Redis never see each other's keys. */
export function uniquePrefix(label = 't'): string {
  return `${label}${Math.random().toString(36).slice(2, 10)}`;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every 10 ms until it is truthy or `timeoutMs` (real time, even under a faked `Date`) passes; answers the elapsed ms. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 2000,
): Promise<number> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
  return performance.now() - t0;
}
