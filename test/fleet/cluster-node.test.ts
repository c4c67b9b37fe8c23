/**
 * Per-node health on a Redis Cluster (issue 11): one master frozen with SIGSTOP under a bounded
 * read load short-circuits only its own slots; keys on the other masters stay Redis hits; the
 * store's probe reports that master down (by index and slot range, no host names) and the status
 * `degraded`; after SIGCONT it recovers without a restart. `describe()` answers from memory.
 */
import { jest } from '@jest/globals';
import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisCache } from '../../src/cache/stores/redis/redis-cache.js';
import { RedisClusterProcess } from '../harness/redis-server.js';

jest.setTimeout(120_000);

/** How long the master stays frozen. */
const FREEZE_MS = 5_000;
/** Concurrent readers of the bounded load. */
const READERS = 8;
/** Pause between two reads of one reader (≈ 8 × 200 reads/s at most). */
const READ_GAP_MS = 5;

let cluster: RedisClusterProcess;
let cache: RedisCache;

beforeAll(async () => {
  // A long node timeout: the frozen master is not failed over during the freeze, so its slots stay its own.
  cluster = await RedisClusterProcess.start({ nodeTimeoutMs: 30_000 });
  cache = new RedisCache({
    clusterNodes: cluster.nodeList.split(','),
    commandTimeoutMs: 250,
    breaker: { failureThreshold: 5, openMs: 1000 },
    probe: { intervalMs: 500 },
  });
  await cache.connect();
});

afterAll(async () => {
  for (const s of cluster?.servers ?? []) s.resume();
  await cache?.disconnect();
  await cluster?.stop();
});

/** The `host:port` of the master that owns `key`, as the client's slot table says. */
function ownerOf(key: string): string {
  const client = cache.client;
  if (!(client instanceof Cluster)) throw new Error('not a cluster client');
  return client.slots[calculateSlot(key)]?.[0] ?? '';
}

/** Polls `check` until it holds (generous bound). */
async function eventually(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(50);
  }
}

it('a frozen master short-circuits only its own slots; health names it by index; recovery without restart', async () => {
  const keys = Array.from({ length: 90 }, (_, i) => `fleet:cluster-node:${i}`);
  expect(
    await cache.pipelineSet(keys.map((k) => ({ key: k, value: `v-${k}`, ttlMs: 600_000 }))),
  ).toBe(true);
  await cache.getHealth(); // runs a probe round
  expect(cache.describe().status).toBe('up');
  const masters = cache.describe().nodes ?? [];
  expect(masters).toHaveLength(3);

  // The victim: the master that owns the first key; its index is its rank by first slot.
  const victimAddress = ownerOf(keys[0]);
  const victimPort = Number(victimAddress.split(':')[1]);
  const victim = cluster.servers.find((s) => s.port === victimPort);
  if (!victim) throw new Error(`no server on ${victimAddress}`);
  const victimSlot = calculateSlot(keys[0]);
  const victimIndex = masters.findIndex((m) =>
    m.slots.split(',').some((r) => {
      const [a, b = a] = r.split('-').map(Number);
      return victimSlot >= a && victimSlot <= b;
    }),
  );
  expect(victimIndex).toBeGreaterThanOrEqual(0);
  const healthy = keys.filter((k) => ownerOf(k) !== victimAddress);
  const onVictim = keys.filter((k) => ownerOf(k) === victimAddress);
  expect(healthy.length).toBeGreaterThan(20);
  expect(onVictim.length).toBeGreaterThan(5);

  const before = cache.getStats();
  const tally = { healthyReads: 0, healthyMisses: 0, victimReads: 0, victimHits: 0 };
  let describeMaxMs = 0;
  let sawDown = false;
  let sawDegraded = false;
  let stop = false;
  const reader = async (r: number): Promise<void> => {
    for (let i = r; !stop; i += READERS) {
      const key = keys[i % keys.length];
      const value = await cache.get(key);
      if (onVictim.includes(key)) {
        tally.victimReads++;
        if (value !== undefined) tally.victimHits++;
      } else {
        tally.healthyReads++;
        if (value !== `v-${key}`) tally.healthyMisses++;
      }
      await sleep(READ_GAP_MS);
    }
  };

  victim.pause();
  const load = Promise.all(Array.from({ length: READERS }, (_, r) => reader(r)));
  const freezeEnds = Date.now() + FREEZE_MS;
  while (Date.now() < freezeEnds) {
    const t0 = performance.now();
    const d = cache.describe();
    describeMaxMs = Math.max(describeMaxMs, performance.now() - t0);
    if (d.nodes?.[victimIndex]?.status === 'down') sawDown = true;
    if (
      d.status === 'degraded' &&
      d.reasons?.some((x) => x.startsWith('redis_master_down: master ' + victimIndex))
    )
      sawDegraded = true;
    // Never a host name in what health reports.
    expect(JSON.stringify(d)).not.toMatch(/127\.0\.0\.1|:\d{4,5}\b/);
    // Only the victim is reported down.
    expect(d.nodes?.filter((n, i) => i !== victimIndex && n.status === 'down')).toEqual([]);
    await sleep(100);
  }
  const frozen = cache.describe();
  // The load ends before SIGCONT: no read of the victim's keys can be answered by the thawed node.
  stop = true;
  await load;
  victim.resume();
  const during = cache.getStats();

  // Healthy masters kept serving from Redis: every read of their keys was a hit.
  expect(tally.healthyReads).toBeGreaterThan(200);
  expect(tally.healthyMisses).toBe(0);
  // The victim's slots were short-circuited (its breaker opened), not waited on one timeout each.
  expect(tally.victimHits).toBe(0);
  expect(during.shortCircuited - before.shortCircuited).toBeGreaterThan(0);
  expect(frozen.nodes?.[victimIndex]?.breaker).not.toBe('closed');
  expect(frozen.breaker).toBe('closed');
  // Health showed the master down and the status degraded, naming it by index and slot range.
  expect(sawDown).toBe(true);
  expect(sawDegraded).toBe(true);
  // describe() is sync and from memory: it never waited on the frozen master.
  expect(describeMaxMs).toBeLessThan(250);

  // Recovery without restart: probe up again, the victim's keys read from Redis again.
  await eventually(() => cache.describe().status === 'up', 'status up after SIGCONT');
  await eventually(
    () => cache.describe().nodes?.every((n) => n.breaker !== 'open') ?? false,
    'breakers not open',
  );
  const expected = JSON.stringify(onVictim.map((k) => `v-${k}`));
  let again: (string | undefined)[] = [];
  const deadline = Date.now() + 15_000;
  while (JSON.stringify(again) !== expected && Date.now() < deadline) {
    again = await cache.pipelineGet(onVictim);
    await sleep(100);
  }
  expect(again).toEqual(onVictim.map((k) => `v-${k}`));
  const health = await cache.getHealth();
  expect(health.status).toBe('up');
  expect(health.masters).toHaveLength(3);
  expect(health.nodes).toBe(3);
  process.stdout.write(
    `cluster-node figures: healthy reads ${tally.healthyReads} (misses ${tally.healthyMisses}), ` +
      `victim reads ${tally.victimReads}, short-circuited ${during.shortCircuited - before.shortCircuited}, ` +
      `describe() max ${describeMaxMs.toFixed(3)} ms\n`,
  );
});
