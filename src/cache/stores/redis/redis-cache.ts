import { Cluster } from 'ioredis';
import {
  batchAnswer,
  checkAsOf,
  setAnswer,
  type BatchAnswer,
  type BatchWriteOptions,
  type CacheStore,
  type CounterOptions,
  type CounterValue,
  type SetAnswer,
  type StoreDescription,
  type StoreEntry,
  type StoreHealth,
  type StorePubSub,
  type StoreStats,
  type WriteOptions,
  type WriteOutcome,
} from '../cache-store.js';
import { assertTtlMs } from '../../util/arguments.js';
import type { CircuitBreaker } from '../../util/circuit-breaker.js';
import { RateLimitedLogger, errorSummary } from '../../util/rate-limited-logger.js';
import { ReadCoalescer } from './read-coalescer.js';
import {
  closeClient,
  connectAtStartup,
  createRedisClient,
  deploymentMode,
  describeTarget,
  keepCommandTimerList,
  type RedisClient,
} from './redis-connection.js';
import type { RedisCacheOptions } from './redis-cache.options.js';
import * as info from './redis-info.js';
import { NodeBreakers } from './node-breakers.js';
import { RedisProbe, isWriteRefusal } from './redis-probe.js';
import { masterNodes, scanNode, unlinkMatching } from './redis-scan.js';
import { counterCall, defineScripts, type ScriptClient } from './redis-scripts.js';
import { RedisPubSub } from './redis-subscriber.js';
import { writeMany, writeOne } from './redis-writes.js';

export type { RedisCacheOptions } from './redis-cache.options.js';
export { isWriteRefusal } from './redis-probe.js';
export { humanBytes, parseInfo, type RedisMemoryInfo } from './redis-info.js';

/**
 * The Redis driver (standalone, cluster or sentinel) behind the `CacheStore` interface.
 *
 * Every call goes through one guarded path (`guard`) that short-circuits while its breaker is
 * open, relies on the client's command timeout, counts and rate-limit-logs errors, feeds the
 * breaker and answers the fallback: Redis being down, slow or out of memory is a miss, never a
 * throw. On a cluster, calls routed by a key have the breaker of the key's master (`NodeBreakers`):
 * a sick master short-circuits only its own slots. Write refusals (OOM, READONLY, …) are counted
 * apart and do not open breakers (Redis answers; reads still work). A background probe
 * (`RedisProbe`) keeps the state `describe()` answers from memory. Reads are coalesced into MGETs
 * by `ReadCoalescer`; `pubsub` serves the invalidation bus.
 */
/** Operations that write: a success clears a recorded write refusal. */
const WRITES = new Set(['set', 'pipelineSet', 'increment', 'lock']);

export class RedisCache implements CacheStore {
  readonly kind = 'redis' as const;
  /** The shared ioredis client (standalone/sentinel `Redis`, or `Cluster`). */
  readonly client: RedisClient;
  /** Publish on the shared connection, subscribe on a connection of its own (the bus's port). */
  readonly pubsub: StorePubSub;
  /** The same client, with the store's Lua scripts defined. */
  private readonly scripts: ScriptClient;
  private readonly ownsClient: boolean;
  private readonly breakers: NodeBreakers;
  private readonly probe: RedisProbe;
  private readonly log = new RateLimitedLogger(RedisCache.name);
  /** Failed calls, and calls answered by the open breaker (hits and misses are the reader's). */
  private readonly stats = { errors: 0, shortCircuited: 0 };
  private readonly reads: ReadCoalescer;
  private readonly failures: FailureSinks; // what a failed call updates (`recordFailure`)
  private readonly batchSize: number;
  private readonly target: string;

  constructor(private readonly options: RedisCacheOptions) {
    this.client = options.client ?? createRedisClient(options);
    this.ownsClient = !options.client;
    this.breakers = new NodeBreakers(this.client, options.breaker);
    this.batchSize = options.batchSize ?? 500;
    this.target = describeTarget(options);
    this.scripts = defineScripts(this.client);
    this.client.on('error', (e: unknown) =>
      this.log.warn('connection', `redis ${this.target}: ${errorSummary(e)}`),
    );
    this.client.on('ready', () => this.breakers.successAll());
    keepCommandTimerList(this.client);
    this.probe = new RedisProbe(
      this.client,
      this.breakers,
      { ...options.probe, timeoutMs: options.commandTimeoutMs ?? 250 },
      this.log,
    );
    this.failures = { stats: this.stats, probe: this.probe, log: this.log };
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
    return this.breakers.global.state;
  }

  /** Connects, waiting at most the connect timeout; when Redis is not reachable the app still starts (see `connectAtStartup`). */
  async connect(): Promise<void> {
    if (this.client.status === 'wait') {
      const timeoutMs = this.options.connectTimeoutMs ?? 2000;
      if (!(await connectAtStartup(this.client, timeoutMs, this.target, this.log)))
        this.breakers.global.trip();
    }
    this.probe.start();
  }

  /** Stops the background probe and closes the client if this instance created it (QUIT when connected, else disconnect). */
  async disconnect(): Promise<void> {
    this.probe.stop();
    if (this.ownsClient) await closeClient(this.client, this.log);
  }

  /**
   * The one guarded path of every Redis call: short-circuit while its breaker is open (on a
   * cluster, the breaker of `route`'s master when the call is routed by that key), count and log
   * failures (rate-limited, no payloads), feed the breaker, answer `fallback` on failure.
   */
  guard<T>(
    op: string,
    fallback: T,
    call: (client: ScriptClient) => Promise<T>,
    route?: string,
  ): Promise<T> {
    const breaker = this.breakers.for(route);
    if (!breaker.allow()) {
      this.stats.shortCircuited++;
      return Promise.resolve(fallback);
    }
    let pending: Promise<T>;
    try {
      pending = call(this.scripts);
    } catch (e) {
      recordFailure(this.failures, op, e, breaker);
      return Promise.resolve(fallback);
    }
    // A plain promise chain (no async wrapper): the hot path pays one hop, like a raw client call.
    return pending.then(
      (result) => {
        breaker.success();
        if (WRITES.has(op)) this.probe.wrote();
        return result;
      },
      (e: unknown) => {
        recordFailure(this.failures, op, e, breaker);
        return fallback;
      },
    );
  }

  /** A single read, coalesced with the other reads of its tick while reads overlap. */
  get(key: string): Promise<string | undefined> {
    return this.reads.get(key);
  }

  /** A plain SET, or with `options.asOf` the monotonic script (see `CacheStore.set`). */
  async set<O extends WriteOptions | undefined = undefined>(
    key: string,
    value: string,
    ttlMs: number,
    options?: O,
  ): Promise<SetAnswer<O>> {
    assertTtlMs(ttlMs);
    checkAsOf(options?.asOf);
    const write = (c: ScriptClient) => writeOne(c, key, value, ttlMs, options?.asOf);
    return setAnswer(options, await this.guard<WriteOutcome>('set', 'failed', write, key));
  }

  async delete(key: string): Promise<boolean> {
    return this.guard('delete', false, async (c) => (await c.unlink(key)) > 0, key);
  }

  async exists(key: string): Promise<boolean> {
    return this.guard('exists', false, async (c) => (await c.exists(key)) > 0, key);
  }

  async ttl(key: string): Promise<number> {
    return this.guard('ttl', -2, (c) => c.pttl(key), key);
  }

  async expire(key: string, ttlMs: number): Promise<boolean> {
    assertTtlMs(ttlMs);
    return this.guard(
      'expire',
      false,
      async (c) => (await c.pexpire(key, Math.ceil(ttlMs))) === 1,
      key,
    );
  }

  /** Many reads in as few MGETs as possible (one per hash slot on a cluster), in order. */
  pipelineGet(keys: readonly string[]): Promise<(string | undefined)[]> {
    return this.reads.getMany(keys);
  }

  /** Pipelined writes, one pipeline per hash slot on a cluster (see `writeMany`). */
  async pipelineSet<O extends BatchWriteOptions | undefined = undefined>(
    entries: readonly StoreEntry[],
    options?: O,
  ): Promise<BatchAnswer<O>> {
    for (const e of entries) assertTtlMs(e.ttlMs, `ttlMs of '${e.key}'`);
    for (const e of entries) checkAsOf(e.asOf, `asOf of '${e.key}'`);
    if (entries.length === 0) return batchAnswer(options, []);
    return batchAnswer(options, await writeMany(this.guard.bind(this), this.isCluster, entries));
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

  /** One script: INCRBY and the TTL (see `CacheStore.increment`). */
  async increment(
    key: string,
    ttlMs: number,
    options?: CounterOptions,
  ): Promise<CounterValue | undefined> {
    return this.guard('increment', undefined, counterCall(key, ttlMs, options), key);
  }

  async acquireLock(
    key: string,
    token: string,
    ttlMs: number,
  ): Promise<'acquired' | 'busy' | 'unavailable'> {
    assertTtlMs(ttlMs);
    return this.guard<'acquired' | 'busy' | 'unavailable'>(
      'lock',
      'unavailable',
      async (c) =>
        (await c.set(key, token, 'PX', Math.ceil(ttlMs), 'NX')) === 'OK' ? 'acquired' : 'busy',
      key,
    );
  }

  async releaseLock(key: string, token: string): Promise<boolean> {
    return this.guard('unlock', false, async (c) => (await c.mcRelease(key, token)) === 1, key);
  }

  /** Parsed `INFO memory` (summed over masters on a cluster), or `undefined` when Redis cannot answer. */
  async getMemoryInfo(): Promise<info.RedisMemoryInfo | undefined> {
    const infos = await this.guard('info', undefined, () => info.readInfo(this.client, 'memory'));
    return infos && info.memoryFigures(infos);
  }

  /**
   * A live probe round (PING every master, bounded by the command timeout, past the breakers) and
   * parsed INFO of the masters that answer: keyspace hit rate, memory, evictions, clients, uptime,
   * commands; on a cluster each master's state. `up` while any master answers (a sick master is
   * in `nodes` and `reasons`); `down` when none does.
   */
  async getHealth(): Promise<StoreHealth> {
    const base = {
      kind: this.kind,
      mode: deploymentMode(this.client, this.options),
      breaker: this.breakers.global.state,
    };
    if (!this.isReady)
      return {
        ...base,
        status: 'down',
        connected: false,
        reason: `connection ${this.client.status}`,
      };
    await this.probe.probe();
    const d = this.describe();
    const extra = {
      ...(d.nodes ? { masters: d.nodes } : {}),
      ...(d.reasons?.length ? { reasons: d.reasons } : {}),
      ...(d.rejectingWrites ? { rejectingWrites: true } : {}),
    };
    if (d.status === 'down')
      return {
        ...base,
        ...extra,
        status: 'down',
        connected: false,
        reason: 'ping failed or timed out',
      };
    const infos = (await this.guard('info', undefined, () => info.readInfo(this.client))) ?? [];
    return {
      ...base,
      status: 'up',
      connected: true,
      latencyMs: d.latencyMs,
      ...extra,
      ...info.healthFigures(infos),
    };
  }

  /**
   * Mode, readiness, breaker, and the background probe's state (status with reasons, latency,
   * each cluster master's state, write refusals), from memory: never waits on Redis.
   */
  describe(): StoreDescription {
    const ready = this.isReady;
    return {
      kind: this.kind,
      mode: deploymentMode(this.client, this.options),
      ready,
      breaker: this.breakers.global.state,
      ...this.probe.describe(ready),
    };
  }

  /** Failed calls since start (`getStats().errors`), read without building the stats. */
  errorCount(): number {
    return this.stats.errors;
  }

  /** Counters since start, with the calls answered by an open breaker and the writes Redis refused. */
  getStats(): StoreStats & { shortCircuited: number; writeRefusals: number } {
    const { hits, misses } = this.reads;
    return {
      hits,
      misses,
      ...this.stats,
      breaker: this.breakers.global.state,
      writeRefusals: this.probe.writeRefusals,
      rejectingWrites: this.probe.rejectingWrites,
    };
  }
}

/** What a failed call updates: the store's counters, its probe (write refusals) and its log. */
interface FailureSinks {
  stats: { errors: number };
  probe: RedisProbe;
  log: RateLimitedLogger;
}

/**
 * Counts and logs (rate-limited, no payloads) a failed call. A write refusal (OOM, READONLY, …)
 * is counted apart and closes the breaker (Redis answered); any other failure feeds it.
 */
function recordFailure(
  sinks: FailureSinks,
  op: string,
  error: unknown,
  breaker: CircuitBreaker,
): void {
  sinks.stats.errors++;
  if (isWriteRefusal(error)) {
    sinks.probe.refused();
    breaker.success();
    sinks.log.warn('refused', `redis refused a write (${op}): ${errorSummary(error)}`);
    return;
  }
  breaker.failure();
  sinks.log.warn(op, `redis ${op} failed (answered as a miss): ${errorSummary(error)}`);
}
