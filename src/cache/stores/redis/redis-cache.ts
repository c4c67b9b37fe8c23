import { Logger } from '@nestjs/common';
import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';
import type {
  CacheStore,
  StoreDescription,
  StoreEntry,
  StoreHealth,
  StoreStats,
} from '../cache-store.js';
import { assertTtlMs } from '../../util/arguments.js';
import { CircuitBreaker, type CircuitBreakerOptions } from '../../util/circuit-breaker.js';
import { RateLimitedLogger, errorSummary } from '../../util/rate-limited-logger.js';
import { withTimeout } from '../../util/with-timeout.js';
import {
  createRedisClient,
  describeTarget,
  type RedisClient,
  type RedisConnectionOptions,
} from './redis-connection.js';

/** Options of `RedisCache`. */
export interface RedisCacheOptions extends RedisConnectionOptions {
  /** An existing ioredis client to use instead of creating one; it is not closed by `disconnect()`. */
  client?: RedisClient;
  /** Circuit breaker tuning (failures before opening; open time in ms). */
  breaker?: CircuitBreakerOptions;
  /** Send concurrent single-key `get`s of one tick as one MGET (per slot on a cluster). Default true. */
  coalesceReads?: boolean;
  /** Keys per SCAN step and per UNLINK batch. Default 500. */
  batchSize?: number;
}

/** Parsed memory figures from `INFO memory`. */
export interface RedisMemoryInfo {
  usedBytes: number;
  usedHuman: string;
  peakBytes: number;
  maxBytes: number;
  maxPolicy: string;
  fragmentationRatio: number;
}

const INCREMENT_SCRIPT = `
local v = redis.call('INCR', KEYS[1])
local t = redis.call('PTTL', KEYS[1])
if t < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  t = tonumber(ARGV[1])
end
return {v, t}`;

const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

interface PendingRead {
  resolve: (value: string | undefined) => void;
}

type ScriptClient = RedisClient & {
  mcIncrement(key: string, ttlMs: number): Promise<[number, number]>;
  mcRelease(key: string, token: string): Promise<number>;
};

/**
 * The Redis driver (standalone, cluster or sentinel) behind the `CacheStore` interface.
 *
 * Every call goes through one guarded path (`guard`) that short-circuits while the breaker is
 * open, relies on the client's command timeout, counts and rate-limit-logs errors, feeds the
 * breaker and answers the fallback: Redis being down, slow or out of memory is a miss, never a
 * throw. Concurrent `get`s issued in one tick are coalesced into MGETs.
 */
export class RedisCache implements CacheStore {
  readonly kind = 'redis' as const;
  /** The shared ioredis client (standalone/sentinel `Redis`, or `Cluster`). */
  readonly client: RedisClient;
  private readonly ownsClient: boolean;
  private readonly breaker: CircuitBreaker;
  private readonly log = new RateLimitedLogger(new Logger(RedisCache.name));
  private readonly stats = { hits: 0, misses: 0, errors: 0, shortCircuited: 0 };
  private readonly coalesce: boolean;
  private readonly batchSize: number;
  private readonly target: string;
  private pending: Map<string, PendingRead[]> | undefined;
  /** Read commands sent and not yet answered: while any is out, new reads are batched. */
  private readsInFlight = 0;

  constructor(private readonly options: RedisCacheOptions) {
    this.client = options.client ?? createRedisClient(options);
    this.ownsClient = !options.client;
    this.breaker = new CircuitBreaker(options.breaker);
    this.coalesce = options.coalesceReads ?? true;
    this.batchSize = options.batchSize ?? 500;
    this.target = describeTarget(options);
    this.client.defineCommand('mcIncrement', { numberOfKeys: 1, lua: INCREMENT_SCRIPT });
    this.client.defineCommand('mcRelease', { numberOfKeys: 1, lua: RELEASE_SCRIPT });
    this.client.on('error', (e: unknown) =>
      this.log.warn('connection', `redis ${this.target}: ${errorSummary(e)}`),
    );
    this.client.on('ready', () => this.breaker.success());
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

  /**
   * Connects, waiting at most the connect timeout. When Redis is not reachable the app still
   * starts: the failure is logged and the client keeps reconnecting in the background.
   */
  async connect(): Promise<void> {
    if (this.client.status !== 'wait') return;
    const timeoutMs = this.options.connectTimeoutMs ?? 2000;
    // Wait for the `ready` state itself: under load, ioredis' Cluster `connect()` promise can stay
    // pending after the client is ready. Its rejection (Redis down) is logged; the client retries.
    const ready = new Promise<void>((resolve) => this.client.once('ready', () => resolve()));
    this.client
      .connect()
      .catch((e: unknown) =>
        this.log.warn('connect', `redis ${this.target} connect: ${errorSummary(e)}`),
      );
    try {
      await withTimeout(ready, timeoutMs, 'connect timed out');
      // A cluster is `ready` before each master's own connection is: with no offline queue, the
      // first command to a node still connecting would fail, so start-up waits for them (bounded).
      if (this.client instanceof Cluster) {
        const pending = this.client.nodes('master').filter((n) => n.status !== 'ready');
        await withTimeout(
          Promise.all(pending.map((n) => new Promise((resolved) => n.once('ready', resolved)))),
          timeoutMs,
          'cluster nodes not ready',
        );
      }
    } catch (e) {
      if (this.isReady) return;
      this.breaker.trip();
      this.log.warn(
        'connect',
        `redis ${this.target} not reachable at start-up; serving without it and retrying: ${errorSummary(e)}`,
      );
    }
  }

  /**
   * Closes the client if this instance created it: QUIT when connected (pending replies drain),
   * else an immediate disconnect (ioredis' QUIT does not stop a client that is reconnecting).
   */
  async disconnect(): Promise<void> {
    if (!this.ownsClient || this.client.status === 'end') return;
    if (this.client.status !== 'ready') {
      this.client.disconnect();
      return;
    }
    try {
      await this.client.quit();
    } catch (e) {
      this.log.warn('quit', `redis quit failed, disconnecting: ${errorSummary(e)}`);
      this.client.disconnect();
    }
  }

  /** A new connection with the same settings (for pub/sub subscribers). The caller closes it. */
  duplicate(): RedisClient {
    return this.client.duplicate();
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
      pending = call(this.client as ScriptClient);
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

  /**
   * A read goes out at once when no other read is in flight (sequential reads pay nothing);
   * while reads overlap, the ones issued in the same tick are batched into MGETs.
   */
  get(key: string): Promise<string | undefined> {
    if (!this.coalesce || (this.readsInFlight === 0 && this.pending === undefined)) {
      this.readsInFlight++;
      return this.guard<string | null>('get', null, (c) => c.get(key)).then((value) => {
        this.readsInFlight--;
        return this.count(value ?? undefined);
      });
    }
    return new Promise((resolve) => {
      if (!this.pending) {
        this.pending = new Map();
        queueMicrotask(() => this.flushReads());
      }
      const waiters = this.pending.get(key);
      if (waiters) waiters.push({ resolve });
      else this.pending.set(key, [{ resolve }]);
    });
  }

  /** Sends the reads queued in this tick: one GET alone, else MGET (per slot on a cluster). */
  private flushReads(): void {
    const batch = this.pending;
    this.pending = undefined;
    if (!batch) return;
    const settle = (ks: string[], values: (string | undefined)[]) => {
      this.readsInFlight--;
      ks.forEach((k, i) => {
        const v = this.count(values[i]);
        for (const w of batch.get(k) ?? []) w.resolve(v);
      });
    };
    for (const group of this.groupBySlot([...batch.keys()])) {
      this.readsInFlight++;
      if (group.length === 1) {
        void this.guard('get', undefined, (c) => c.get(group[0]).then(nullToUndefined)).then((v) =>
          settle(group, [v]),
        );
      } else {
        void this.guard('mget', [] as (string | undefined)[], (c) =>
          c.mget(group).then((vs) => vs.map(nullToUndefined)),
        ).then((vs) => settle(group, vs));
      }
    }
  }

  private count(value: string | undefined): string | undefined {
    if (value === undefined) this.stats.misses++;
    else this.stats.hits++;
    return value;
  }

  /** Groups keys so that each group can go in one multi-key command: one group standalone, per slot on a cluster. */
  private groupBySlot(keys: readonly string[]): string[][] {
    if (!this.isCluster) return keys.length ? [keys.slice()] : [];
    const bySlot = new Map<number, string[]>();
    for (const k of keys) {
      const slot = calculateSlot(k);
      const g = bySlot.get(slot);
      if (g) g.push(k);
      else bySlot.set(slot, [k]);
    }
    return [...bySlot.values()];
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

  async pipelineGet(keys: readonly string[]): Promise<(string | undefined)[]> {
    if (keys.length === 0) return [];
    if (!this.isCluster) {
      const values = await this.guard('mget', [] as (string | null)[], (c) =>
        c.mget(keys as string[]),
      );
      return keys.map((_, i) => this.count(nullToUndefined(values[i] ?? null)));
    }
    const out = new Array<string | undefined>(keys.length);
    const bySlot = new Map<number, number[]>();
    keys.forEach((k, i) => {
      const slot = calculateSlot(k);
      const g = bySlot.get(slot);
      if (g) g.push(i);
      else bySlot.set(slot, [i]);
    });
    await Promise.all(
      [...bySlot.values()].map(async (indexes) => {
        const values = await this.guard('mget', [] as (string | null)[], (c) =>
          c.mget(indexes.map((i) => keys[i])),
        );
        indexes.forEach((i, j) => (out[i] = this.count(nullToUndefined(values[j] ?? null))));
      }),
    );
    return out;
  }

  async pipelineSet(entries: readonly StoreEntry[]): Promise<boolean> {
    for (const e of entries) assertTtlMs(e.ttlMs, `ttlMs of '${e.key}'`);
    if (entries.length === 0) return true;
    const byKey = new Map(entries.map((e) => [e.key, e]));
    const results = await Promise.all(
      this.groupBySlot([...byKey.keys()]).map((group) =>
        this.guard('pipelineSet', false, async (c) => {
          const p = c.pipeline();
          for (const k of group) {
            const e = byKey.get(k) as StoreEntry;
            p.set(e.key, e.value, 'PX', Math.ceil(e.ttlMs));
          }
          const replies = (await p.exec()) ?? [];
          const failed = replies.find(([err]) => err);
          if (failed) throw failed[0];
          return replies.length === group.length;
        }),
      ),
    );
    return results.every(Boolean);
  }

  /** The nodes to scan: every master of a cluster, or the one server. */
  private scanTargets(): Redis[] {
    return this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
  }

  async keys(pattern: string): Promise<string[]> {
    const out: string[] = [];
    await this.guard('keys', undefined, async () => {
      for (const node of this.scanTargets())
        await this.scanNode(node, pattern, async (batch) => void out.push(...batch));
    });
    return out;
  }

  /** SCANs one node for `pattern`, handing over each step's keys. */
  private async scanNode(
    node: Redis,
    pattern: string,
    onBatch: (keys: string[]) => Promise<void>,
  ): Promise<void> {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', this.batchSize);
      cursor = next;
      if (found.length) await onBatch(found);
    } while (cursor !== '0');
  }

  /**
   * SCAN + UNLINK in batches on every master (never KEYS, never FLUSHDB). On a cluster, each
   * key is unlinked on the node that holds it, in one pipeline per batch (no CROSSSLOT).
   */
  async flushPattern(pattern: string, filter?: (key: string) => boolean): Promise<number> {
    let removed = 0;
    const cluster = this.isCluster;
    await this.guard('flushPattern', undefined, async () => {
      for (const node of this.scanTargets()) {
        await this.scanNode(node, pattern, async (found) => {
          const batch = filter ? found.filter(filter) : found;
          if (batch.length === 0) return;
          if (!cluster) {
            removed += await node.unlink(...batch);
            return;
          }
          const p = node.pipeline();
          for (const k of batch) p.unlink(k);
          for (const [err, n] of (await p.exec()) ?? []) if (!err) removed += Number(n);
        });
      }
    });
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

  /** Publishes a message on a channel (the invalidation bus). */
  async publish(channel: string, message: string): Promise<boolean> {
    return this.guard('publish', false, async (c) => (await c.publish(channel, message)) >= 0);
  }

  /** Parsed `INFO memory` (summed over masters on a cluster). */
  async getMemoryInfo(): Promise<RedisMemoryInfo | undefined> {
    const infos = await this.infoAll('memory');
    if (!infos) return undefined;
    const sum = (f: string) => infos.reduce((a, i) => a + num(i[f]), 0);
    const used = sum('used_memory');
    return {
      usedBytes: used,
      usedHuman: humanBytes(used),
      peakBytes: sum('used_memory_peak'),
      maxBytes: sum('maxmemory'),
      maxPolicy: infos[0]?.maxmemory_policy ?? 'unknown',
      fragmentationRatio: num(infos[0]?.mem_fragmentation_ratio),
    };
  }

  /** `INFO` of every master parsed into maps, or `undefined` when Redis cannot answer. */
  private async infoAll(section?: string): Promise<Record<string, string>[] | undefined> {
    return this.guard('info', undefined, async () =>
      Promise.all(
        this.scanTargets().map(async (n) =>
          parseInfo(section ? await n.info(section) : await n.info()),
        ),
      ),
    );
  }

  /** PING latency and parsed INFO: keyspace hit rate, memory, evictions, clients, uptime, commands. */
  async getHealth(): Promise<StoreHealth> {
    const base = {
      kind: this.kind,
      mode: this.isCluster ? 'cluster' : this.options.sentinels?.length ? 'sentinel' : 'standalone',
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
    const t0 = process.hrtime.bigint();
    let pong: string | undefined;
    try {
      pong = await (this.client instanceof Cluster
        ? this.client.nodes('master')[0]?.ping()
        : this.client.ping());
    } catch (e) {
      this.log.warn('ping', `redis health ping failed: ${errorSummary(e)}`);
    }
    const latencyMs = Number(process.hrtime.bigint() - t0) / 1e6;
    if (pong !== 'PONG')
      return { ...base, status: 'down', connected: false, reason: 'ping failed or timed out' };
    const infos = (await this.infoAll()) ?? [];
    const sum = (f: string) => infos.reduce((a, i) => a + num(i[f]), 0);
    const hits = sum('keyspace_hits');
    const misses = sum('keyspace_misses');
    const used = sum('used_memory');
    return {
      ...base,
      status: 'up',
      connected: true,
      latencyMs: Math.round(latencyMs * 1000) / 1000,
      version: infos[0]?.redis_version,
      hitRatePercent: hits + misses === 0 ? 0 : Math.round((hits / (hits + misses)) * 10_000) / 100,
      keyspaceHits: hits,
      keyspaceMisses: misses,
      usedMemoryBytes: used,
      usedMemoryHuman: humanBytes(used),
      maxMemoryBytes: sum('maxmemory'),
      evictedKeys: sum('evicted_keys'),
      connectedClients: sum('connected_clients'),
      uptimeSeconds: infos.length ? Math.min(...infos.map((i) => num(i.uptime_in_seconds))) : 0,
      totalCommands: sum('total_commands_processed'),
      nodes: infos.length,
    };
  }

  /** Mode, readiness and breaker state, from memory. */
  describe(): StoreDescription {
    return {
      kind: this.kind,
      mode: this.isCluster ? 'cluster' : this.options.sentinels?.length ? 'sentinel' : 'standalone',
      ready: this.isReady,
      breaker: this.breaker.state,
    };
  }

  getStats(): StoreStats & { shortCircuited: number } {
    return { ...this.stats, breaker: this.breaker.state };
  }
}

function nullToUndefined(v: string | null): string | undefined {
  return v === null ? undefined : v;
}

function num(v: string | undefined): number {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

/** Parses INFO text into a field map. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** Formats a byte count like Redis does (`1.50M`). */
export function humanBytes(bytes: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(2)}${units[u]}`;
}
