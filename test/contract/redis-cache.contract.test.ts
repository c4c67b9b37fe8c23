import { RedisCache } from '../../src/cache/stores/redis/redis-cache.js';
import { testCluster, testRedis } from '../harness/test-env.js';
import { describeCacheStoreContract } from './cache-store.contract.js';

async function connected(cache: RedisCache): Promise<RedisCache> {
  await cache.connect();
  return cache;
}

describeCacheStoreContract('RedisCache (standalone)', () =>
  connected(new RedisCache({ url: testRedis().url })),
);
describeCacheStoreContract('RedisCache (standalone, reads not coalesced)', () =>
  connected(new RedisCache({ url: testRedis().url, coalesceReads: false })),
);
describeCacheStoreContract('RedisCache (cluster)', () =>
  connected(
    new RedisCache({ clusterNodes: testCluster().nodeList.split(','), commandTimeoutMs: 1000 }),
  ),
);
