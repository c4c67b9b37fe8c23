/**
 * One publisher's bus messages arrive in order on a Redis Cluster: every PUBLISH of a store goes
 * through one node. A keyless command otherwise goes to a random node, and messages published
 * through different nodes can overtake each other on the cluster bus (an instance then kept a value
 * in L1 whose eviction arrived after the barrier message sent after it).
 */
import { Redis } from 'ioredis';
import { RedisCache } from '../../src/cache/stores/redis/redis-cache.js';
import { testCluster } from '../harness/test-env.js';
import { uniquePrefix, waitFor } from '../support/cache-context.js';

/** PUBLISH calls each node has served so far (`INFO commandstats`). */
async function publishCalls(nodes: Redis[]): Promise<number[]> {
  return Promise.all(
    nodes.map(async (n) => {
      const stats = await n.info('commandstats');
      return Number(/cmdstat_publish:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    }),
  );
}

describe('publishing on a Redis Cluster', () => {
  const nodes = testCluster().nodes.map((n) => new Redis({ host: n.host, port: n.port }));
  const store = new RedisCache({
    clusterNodes: testCluster().nodeList.split(','),
    commandTimeoutMs: 2000,
  });
  afterAll(async () => {
    await store.disconnect();
    nodes.forEach((n) => n.disconnect());
  });

  it('sends every PUBLISH of one store through the same node, and subscribers get them in order', async () => {
    await store.connect();
    const channel = uniquePrefix('order');
    const received: string[] = [];
    const subscription = await store.pubsub.subscribe(channel, {
      onMessage: (m) => received.push(m),
      onResubscribed: () => undefined,
    });
    try {
      await waitFor(() => subscription.connected, 10_000);
      const before = await publishCalls(nodes);
      for (let i = 0; i < 60; i++)
        expect(await store.pubsub.publish(channel, String(i))).toBe(true);
      const after = await publishCalls(nodes);
      const served = after.map((n, i) => n - before[i]).filter((n) => n > 0);
      expect(served).toEqual([60]);
      await waitFor(() => received.length === 60, 10_000);
      expect(received).toEqual(Array.from({ length: 60 }, (_, i) => String(i)));
    } finally {
      await subscription.close();
    }
  });
});
