import { Cluster } from 'ioredis';
import type {
  CacheStore,
  StoreDescription,
  StoreEntry,
  StoreHealth,
  StorePubSub,
  StoreStats,
} from '../cache-store.js';
import { assertTtlMs } from '../../util/arguments.js';
import { CircuitBreaker } from '../../util/circuit-breaker.js';
import { RateLimitedLogger, errorSummary } from '../../util/rate-limited-logger.js';
import { ReadCoalescer, groupBySlot } from './read-coalescer.js';
import {
  closeClient,
  connectAtStartup,
  createRedisClient,
  deploymentMode,
  describeTarget,
  type RedisClient,
} from './redis-connection.js';
import type { RedisCacheOptions } from './redis-cache.options.js';
import * as info from './redis-info.js';
import { masterNodes, scanNode, unlinkMatching } from './redis-scan.js';
import { defineScripts, type ScriptClient } from './redis-scripts.js';
import { RedisPubSub } from './redis-subscriber.js';

export type { RedisCacheOptions } from './redis-cache.options.js';
export { humanBytes, parseInfo, type RedisMemoryInfo } from './redis-info.js';

/**
 * The Redis driver (standalone, cluster or sentinel) behind the `CacheStore` interface.
 *
 * Every call goes through one guarded path (`guard`) that short-circuits while the breaker is
 * open, relies on the client's command timeout, counts and rate-limit-logs errors, feeds the
 * breaker and answers the fallback: Redis being down, slow or out of memory is a miss, never a
 * throw. Reads are coalesced into MGETs by `ReadCoalescer`; `pubsub` serves the invalidation bus.
 */
export class RedisCache implements CacheStore {
  readonly kind = 'redis' as const;
  /** The shared ioredis client (standalone/sentinel `Redis`, or `Cluster`). */
  readonly client: RedisClient;
  /** Publish on the shared connection, subscribe on a connection of its own (the bus's port). */
  readonly pubsub: StorePubSub;
  /** The same client, with the store's Lua scripts defined. */
  private readonly scripts: ScriptClient;
  private readonly ownsClient: boolean;
  private readonly breaker: CircuitBreaker;
  private readonly log = new RateLimitedLogger(RedisCache.name);
  /** Failed calls, and calls answered by the open breaker (hits and misses are the reader's). */
  private readonly stats = { errors: 0, shortCircuited: 0 };
  private readonly reads: ReadCoalescer;
  private readonly batchSize: number;
  private readonly target: string;

  constructor(private readonly options: RedisCacheOptions) {
    this.client = options.client ?? createRedisClient(options);
    this.ownsClient = !options.client;
    this.breaker = new CircuitBreaker(options.breaker);
    this.batchSize = options.batchSize ?? 500;
    this.target = describeTarget(options);
    this.scripts = defineScripts(this.client);
    this.client.on('error', (e: unknown) =>
      this.log.warn('connection', `redis ${this.target}: ${errorSummary(e)}`),
    );
    this.client.on('ready', () => this.breaker.success());
    const guard = this.guard.bind(this);
    this.reads = new ReadCoalescer({
      guard,
      cluster: this.isCluster,
      enabled: options.coalesceReads ?? true,
    });
    this.pubsub = new RedisPubSub(this.client, guard, this.log);
  }

  /** True for a cluster client. */
  get isCluster(): boolean {
    return this.client instanceof Cluster;
  }

  /** True when the client is connected and ready for commands. */
  get isReady(): boolean {
    return this.client.status === 'ready';
  }

  /** The breaker state: `open` while calls are short-circuited. */
  get breakerState(): 'closed' | 'open' | 'half-open' {
    return this.breaker.state;
  }

  /** Connects, waiting at most the connect timeout; when Redis is not reachable the app still starts (see `connectAtStartup`). */
  async connect(): Promise<void> {
    if (this.client.status !== 'wait') return;
    const timeoutMs = this.options.connectTimeoutMs ?? 2000;
    if (!(await connectAtStartup(this.client, timeoutMs, this.target, this.log)))
      this.breaker.trip();
  }

  /** Closes the client if this instance created it (QUIT when connected, else disconnect). */
  async disconnect(): Promise<void> {
    if (this.ownsClient) await closeClient(this.client, this.log);
  }

  /**
   * The one guarded path of every Redis call: short-circuit while the breaker is open, count and
   * log failures (rate-limited, no payloads), feed the breaker, answer `fallback` on failure.
   */
  guard<T>(op: string, fallback: T, call: (client: ScriptClient) => Promise<T>): Promise<T> {
    if (!this.breaker.allow()) {
      this.stats.shortCircuited++;
      return Promise.resolve(fallback);
    }
    let pending: Promise<T>;
    try {
      pending = call(this.scripts);
    } catch (e) {
      return Promise.resolve(this.failed(op, e, fallback));
    }
    // A plain promise chain (no async wrapper): the hot path pays one hop, like a raw client call.
    return pending.then(
      (result) => {
        this.breaker.success();
        return result;
      },
      (e: unknown) => this.failed(op, e, fallback),
    );
  }

  /** Counts and logs (rate-limited, no payloads) a failed call, feeds the breaker, answers the fallback. */
  private failed<T>(op: string, error: unknown, fallback: T): T {
    this.stats.errors++;
    this.breaker.failure();
    this.log.warn(op, `redis ${op} failed (answered as a miss): ${errorSummary(error)}`);
    return fallback;
  }

  /** A single read, coalesced with the other reads of its tick while reads overlap. */
  get(key: string): Promise<string | undefined> {
    return this.reads.get(key);
  }

  async set(key: string, value: string, ttlMs: number): Promise<boolean> {
    assertTtlMs(ttlMs);
    return this.guard(
      'set',
      false,
      async (c) => (await c.set(key, value, 'PX', Math.ceil(ttlMs))) === 'OK',
    );
  }

  async delete(key: string): Promise<boolean> {
    return this.guard('delete', false, async (c) => (await c.unlink(key)) > 0);
  }

  async exists(key: string): Promise<boolean> {
    return this.guard('exists', false, async (c) => (await c.exists(key)) > 0);
  }

  async ttl(key: string): Promise<number> {
    return this.guard('ttl', -2, (c) => c.pttl(key));
  }

  async expire(key: string, ttlMs: number): Promise<boolean> {
    assertTtlMs(ttlMs);
    return this.guard('expire', false, async (c) => (await c.pexpire(key, Math.ceil(ttlMs))) === 1);
  }

  /** Many reads in as few MGETs as possible (one per hash slot on a cluster), in order. */
  pipelineGet(keys: readonly string[]): Promise<(string | undefined)[]> {
    return this.reads.getMany(keys);
  }

  async pipelineSet(entries: readonly StoreEntry[]): Promise<boolean> {
    for (const e of entries) assertTtlMs(e.ttlMs, `ttlMs of '${e.key}'`);
    if (entries.length === 0) return true;
    // The last entry of a key wins; one pipeline per hash slot on a cluster.
    const unique = [...new Map(entries.map((e) => [e.key, e])).values()];
    const groups = this.isCluster
      ? groupBySlot(unique.map((e) => e.key)).map((g) => g.map((i) => unique[i]))
      : [unique];
    const results = await Promise.all(
      groups.map((group) =>
        this.guard('pipelineSet', false, async (c) => {
          const p = c.pipeline();
          for (const e of group) p.set(e.key, e.value, 'PX', Math.ceil(e.ttlMs));
          const replies = (await p.exec()) ?? [];
          const failed = replies.find(([err]) => err);
          if (failed) throw failed[0];
          return replies.length === group.length;
        }),
      ),
    );
    return results.every(Boolean);
  }

  async keys(pattern: string): Promise<string[]> {
    const out: string[] = [];
    await this.guard('keys', undefined, async () => {
      for (const node of masterNodes(this.client))
        await scanNode(node, pattern, this.batchSize, async (batch) => void out.push(...batch));
    });
    return out;
  }

  /** SCAN + UNLINK in batches on every master (never KEYS, never FLUSHDB); see `unlinkMatching`. */
  async flushPattern(pattern: string, filter?: (key: string) => boolean): Promise<number> {
    let removed = 0;
    await this.guard('flushPattern', undefined, () =>
      unlinkMatching(this.client, pattern, this.batchSize, filter, (n) => (removed += n)),
    );
    return removed;
  }

  async increment(
    key: string,
    ttlMs: number,
  ): Promise<{ value: number; ttlMs: number } | undefined> {
    assertTtlMs(ttlMs);
    return this.guard('increment', undefined, async (c) => {
      const [value, ttl] = await c.mcIncrement(key, Math.ceil(ttlMs));
      return { value: Number(value), ttlMs: Number(ttl) };
    });
  }

  async acquireLock(
    key: string,
    token: string,
    ttlMs: number,
  ): Promise<'acquired' | 'busy' | 'unavailable'> {
    assertTtlMs(ttlMs);
    return this.guard<'acquired' | 'busy' | 'unavailable'>('lock', 'unavailable', async (c) =>
      (await c.set(key, token, 'PX', Math.ceil(ttlMs), 'NX')) === 'OK' ? 'acquired' : 'busy',
    );
  }

  async releaseLock(key: string, token: string): Promise<boolean> {
    return this.guard('unlock', false, async (c) => (await c.mcRelease(key, token)) === 1);
  }

  /** Parsed `INFO memory` (summed over masters on a cluster), or `undefined` when Redis cannot answer. */
  async getMemoryInfo(): Promise<info.RedisMemoryInfo | undefined> {
    const infos = await this.guard('info', undefined, () => info.readInfo(this.client, 'memory'));
    return infos && info.memoryFigures(infos);
  }

  /** PING latency and parsed INFO: keyspace hit rate, memory, evictions, clients, uptime, commands. */
  async getHealth(): Promise<StoreHealth> {
    const base = {
      kind: this.kind,
      mode: deploymentMode(this.client, this.options),
      breaker: this.breaker.state,
    };
    if (!this.isReady)
      return {
        ...base,
        status: 'down',
        connected: false,
        reason: `connection ${this.client.status}`,
      };
    // Health pings past the breaker: it must tell the real state, also while calls are short-circuited.
    const latencyMs = await info.pingMs(this.client, (e) =>
      this.log.warn('ping', `redis health ping failed: ${errorSummary(e)}`),
    );
    if (latencyMs === undefined)
      return { ...base, status: 'down', connected: false, reason: 'ping failed or timed out' };
    const infos = (await this.guard('info', undefined, () => info.readInfo(this.client))) ?? [];
    return {
      ...base,
      status: 'up',
      connected: true,
      latencyMs,
      ...info.healthFigures(infos),
    };
  }

  /** Mode, readiness and breaker state, from memory. */
  describe(): StoreDescription {
    return {
      kind: this.kind,
      mode: deploymentMode(this.client, this.options),
      ready: this.isReady,
      breaker: this.breaker.state,
    };
  }

  /** Counters since start, with the calls answered by the open breaker. */
  getStats(): StoreStats & { shortCircuited: number } {
    const { hits, misses } = this.reads;
    return { hits, misses, ...this.stats, breaker: this.breaker.state };
  }
}
