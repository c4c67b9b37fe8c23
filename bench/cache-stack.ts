import { CacheService } from '../src/cache/cache.service.js';
import { CacheKeyBuilder } from '../src/cache/keys/cache-key-builder.js';
import { CacheTTLPolicy } from '../src/cache/keys/cache-ttl-policy.js';
import {
  resolveOptions,
  type MarketCacheModuleOptions,
} from '../src/cache/market-cache.options.js';
import { createTieredCache } from '../src/cache/market-cache.providers.js';
import { QuotaService } from '../src/cache/quota.service.js';
import { SessionService } from '../src/cache/session.service.js';
import { RedisCache } from '../src/cache/stores/redis/redis-cache.js';

/** A `CacheService` over its own RedisCache, as `MarketCacheModule` builds it (no DI: tsx has no metadata). */
export async function benchCacheService(
  url: string,
  keyPrefix: string,
  extra: MarketCacheModuleOptions = {},
): Promise<{ service: CacheService; store: RedisCache; close: () => Promise<void> }> {
  const options = resolveOptions({ redisUrl: url, keyPrefix, commandTimeoutMs: 2000, ...extra });
  const store = new RedisCache({ url, commandTimeoutMs: 2000 });
  await store.connect();
  const keys = new CacheKeyBuilder(options.keyPrefix);
  const policy = new CacheTTLPolicy();
  const tiered = await createTieredCache(store, keys, policy, options);
  return {
    service: new CacheService(
      tiered,
      keys,
      store,
      new QuotaService(keys, store, options),
      new SessionService(keys, store, policy, options, tiered.stats),
    ),
    store,
    close: async () => (await tiered.detachBus(), await store.disconnect()),
  };
}
