import { BackgroundTasks } from '../util/background-tasks.js';
import { Logger } from '@nestjs/common';
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  CacheError,
  CacheValidationError,
  FactoryError,
  FactoryTimeoutError,
  ValueTooLargeError,
} from '../errors/cache-errors.js';
import type { CacheKeyBuilder } from '../keys/cache-key-builder.js';
import type { CacheKeyType } from '../keys/cache-key-type.js';
import type { CacheTTLPolicy } from '../keys/cache-ttl-policy.js';
import { ttlToMs, type TtlInput } from '../keys/ttl.js';
import type { CacheStore } from '../stores/cache-store.js';
import { assertText } from '../util/arguments.js';
import { RateLimitedLogger, errorSummary } from '../util/rate-limited-logger.js';
import { decodeEntry, encodeEntry, type CacheEntry } from './cache-entry.js';
import { CacheStats, type CacheSource, type TieredStatsView } from './cache-stats.js';
import { raceFactory, startFactory } from './factory-runner.js';
import type { BusMessage, InvalidationBus } from './invalidation-bus.js';
import { L1Cache, type L1Options } from './l1-cache.js';

/** Tuning of the tiered cache; every duration in milliseconds. */
export interface TieredCacheOptions {
  l1: L1Options;
  /** Share of each TTL, at its end, during which a value is served stale while it is refreshed (0–100). Default 20. */
  swrPercent: number;
  /** Soft factory timeout in ms: with a stale value at hand, answer it after this and let the factory finish. Default: none. */
  softTimeoutMs?: number;
  /** Hard factory timeout in ms: past it the caller gets the stale value or `FactoryTimeoutError`. Default 10 000. */
  hardTimeoutMs: number;
  /** After a fail-safe serve, how long the stale value is served without calling the source again, in ms. Default 30 000. */
  failSafeThrottleMs: number;
  /** Distributed lock lifetime in ms. Default: hard timeout + 1 000. */
  lockTtlMs?: number;
  /** Longest a caller waits for another instance's factory before running its own, in ms. Default: the lock lifetime. */
  lockWaitMs?: number;
  /** Largest serialized value accepted, in bytes (UTF-16 code units). Default 4 MiB. */
  maxValueBytes: number;
  /** Id of this instance on the invalidation bus. Default: random. */
  instanceId?: string;
}

/** Per-call options of `getOrSet`, `get` and `set`. */
export interface TieredCallOptions {
  /** TTL: seconds, a duration string (`'5m'`) or an absolute `Date`. Default: the key type's TTL. */
  ttl?: TtlInput;
  /** Key type (TTL, staleness and stats); default: read from the key's first segment. */
  keyType?: CacheKeyType;
  /** Namespace the key lives in (cleared at once by `clearNamespace`). */
  namespace?: string;
  /** Overrides the soft timeout for this call, in ms. */
  softTimeoutMs?: number;
  /** Overrides the hard timeout for this call, in ms. */
  hardTimeoutMs?: number;
}

/** A value with where it came from and when its source produced it. */
export interface Resolved<T> {
  value: T;
  source: CacheSource;
  /** Epoch ms when the source produced the value. */
  asOf: number;
}

/** One entry of `setMany`. */
export interface BatchEntry {
  key: string;
  value: unknown;
  /** TTL: seconds, a duration string or a `Date`. Default: the key type's TTL. */
  ttl?: TtlInput;
  keyType?: CacheKeyType;
  /** Seconds past expiry the value may still be served (fail-safe). Default: the key type's. */
  maxStalenessSeconds?: number;
}

/** A factory producing the value on a miss; it may be sync or async. */
export type Factory<T> = () => Promise<T> | T;

const NAMESPACE_VERSION_TTL_MS = 30 * 86_400_000;

/**
 * The stack: L1 memory over one L2 `CacheStore`, with stale-while-revalidate, fail-safe,
 * factory timeouts, in-process single-flight, a distributed lock across instances, namespaces
 * with O(1) clear, and cross-instance L1 invalidation through the bus.
 */
export class TieredCache {
  readonly stats = new CacheStats();
  readonly l1: L1Cache;
  readonly instanceId: string;
  private readonly inflight = new Map<string, Promise<Resolved<unknown>>>();
  private readonly refreshing = new Set<string>();
  private readonly namespaceVersions = new Map<string, string>();
  private readonly log = new RateLimitedLogger(new Logger(TieredCache.name));
  private readonly lockTtlMs: number;
  private readonly lockWaitMs: number;
  private bus: InvalidationBus | undefined;
  private readonly background = new BackgroundTasks((e: unknown) =>
    this.log.warn('background', `background cache work failed: ${errorSummary(e)}`),
  );

  constructor(
    readonly store: CacheStore,
    readonly keys: CacheKeyBuilder,
    readonly policy: CacheTTLPolicy,
    private readonly options: TieredCacheOptions,
  ) {
    this.l1 = new L1Cache(options.l1, keys.prefix);
    this.instanceId = options.instanceId ?? randomUUID();
    this.lockTtlMs = options.lockTtlMs ?? options.hardTimeoutMs + 1000;
    this.lockWaitMs = options.lockWaitMs ?? this.lockTtlMs;
  }

  /** Attaches the invalidation bus (after it was built with `onBusMessage` as its handler). */
  attachBus(bus: InvalidationBus): void {
    this.bus = bus;
  }

  /** Stops the bus (shutdown). */
  async detachBus(): Promise<void> {
    const bus = this.bus;
    this.bus = undefined;
    await bus?.stop();
  }

  /** True while the invalidation bus is connected (always true without a bus). */
  get busConnected(): boolean {
    return this.bus ? this.bus.connected : true;
  }

  /** The source name of values read from L2. */
  private get l2Source(): CacheSource {
    return this.store.kind === 'file' ? 'file' : 'l2';
  }

  /** Applies a message from another instance to this instance's L1. */
  onBusMessage(message: BusMessage): void {
    if (message.kind === 'keys') for (const k of message.keys) this.l1.delete(k);
    else if (message.kind === 'namespace')
      this.namespaceVersions.set(message.namespace, message.version);
    else {
      this.l1.clear();
      this.namespaceVersions.clear();
    }
  }

  /**
   * The value of `key`: a fresh L1 hit costs one map lookup; otherwise L2, then `factory` under
   * single-flight and the distributed lock. Stale values are served per SWR and fail-safe rules.
   */
  async getOrSet<T>(key: string, factory: Factory<T>, options: TieredCallOptions = {}): Promise<T> {
    if (options.namespace === undefined) {
      const hit = this.l1.getLogical(key);
      if (hit !== undefined && Date.now() < hit.staleAt) {
        this.stats.of(hit.keyType).l1Hits++;
        return hit.value as T;
      }
      return (await this.resolve(this.keys.storageKey(key), key, factory, options, hit)).value;
    }
    const storageKey = await this.namespacedKey(key, options.namespace);
    const hit = this.l1.get(storageKey);
    if (hit !== undefined && Date.now() < hit.staleAt) {
      this.stats.of(hit.keyType).l1Hits++;
      return hit.value as T;
    }
    return (await this.resolve(storageKey, key, factory, options, hit)).value;
  }

  /** A fresh L1 entry of a logical key outside any namespace (counted as an L1 hit), else `undefined`; never reads L2. */
  peekFresh<T>(key: string): { value: T; asOf: number } | undefined {
    const hit = this.l1.getLogical(key);
    if (hit === undefined || Date.now() >= hit.staleAt) return undefined;
    this.stats.of(hit.keyType).l1Hits++;
    return hit as CacheEntry<T>;
  }

  /** Like `getOrSet`, answering where the value came from and when it was produced. */
  async getOrSetResult<T>(
    key: string,
    factory: Factory<T>,
    options: TieredCallOptions = {},
  ): Promise<Resolved<T>> {
    const storageKey =
      options.namespace === undefined
        ? this.keys.storageKey(key)
        : await this.namespacedKey(key, options.namespace);
    const hit = this.l1.get(storageKey);
    if (hit !== undefined && Date.now() < hit.staleAt) {
      this.stats.of(hit.keyType).l1Hits++;
      return { value: hit.value as T, source: 'l1', asOf: hit.asOf };
    }
    return this.resolve(storageKey, key, factory, options, hit);
  }

  /** Reads `key` without a factory: fresh or SWR-stale values, else `undefined`. */
  async get<T>(
    key: string,
    options: Pick<TieredCallOptions, 'keyType' | 'namespace'> = {},
  ): Promise<Resolved<T> | undefined> {
    this.keys.assertLogicalKey(key);
    const storageKey = await this.storageKeyOf(key, options.namespace);
    const type = options.keyType ?? this.keys.typeOf(key);
    const counters = this.stats.of(type);
    const now = Date.now();
    const hit = this.l1.get(storageKey);
    if (hit && now < hit.staleAt) {
      counters.l1Hits++;
      return { value: hit.value as T, source: 'l1', asOf: hit.asOf };
    }
    counters.l1Misses++;
    if (hit && now < hit.expiresAt) {
      counters.staleHits++;
      return { value: hit.value as T, source: 'stale', asOf: hit.asOf };
    }
    const entry = await this.readL2<T>(storageKey, type);
    if (!entry || now >= entry.expiresAt) {
      counters.l2Misses++;
      return undefined;
    }
    this.l1.set(storageKey, entry);
    if (now < entry.staleAt) {
      counters.l2Hits++;
      return { value: entry.value, source: this.l2Source, asOf: entry.asOf };
    }
    counters.staleHits++;
    return { value: entry.value, source: 'stale', asOf: entry.asOf };
  }

  /** Stores `value` in L1 and L2 and evicts `key` from every other instance's L1. */
  async set<T>(key: string, value: T, options: TieredCallOptions = {}): Promise<boolean> {
    this.keys.assertLogicalKey(key);
    const type = options.keyType ?? this.keys.typeOf(key);
    const ttlMs = this.ttlMsOf(options.ttl, type);
    const storageKey = await this.storageKeyOf(key, options.namespace);
    return (await this.write(storageKey, type, value, ttlMs, Date.now())).stored;
  }

  /** Removes `key` from L1, L2 and every other instance's L1. */
  async delete(key: string, options: Pick<TieredCallOptions, 'namespace'> = {}): Promise<boolean> {
    this.keys.assertLogicalKey(key);
    const storageKey = await this.storageKeyOf(key, options.namespace);
    this.l1.delete(storageKey);
    const removed = await this.store.delete(storageKey);
    await this.bus?.publish({ kind: 'keys', keys: [storageKey] });
    return removed;
  }

  /** Evicts stored keys from L1 here and on every other instance (after an L2 flush, say). */
  async evictLocalAndRemote(storageKeys: string[]): Promise<void> {
    for (const k of storageKeys) this.l1.delete(k);
    if (storageKeys.length) await this.bus?.publish({ kind: 'keys', keys: storageKeys });
  }

  /** Clears L1 here and tells every other instance to clear theirs (after a large flush). */
  async clearL1Everywhere(): Promise<void> {
    this.l1.clear();
    await this.bus?.publish({ kind: 'all' });
  }

  /** Clears a namespace in O(1): a new version is stored, so its old keys are never read again. */
  async clearNamespace(namespace: string): Promise<void> {
    assertText(namespace, 'namespace', 200);
    const version = randomBytes(6).toString('hex');
    await this.store.set(
      this.keys.namespaceVersionKey(namespace),
      version,
      NAMESPACE_VERSION_TTL_MS,
    );
    this.namespaceVersions.set(namespace, version);
    await this.bus?.publish({ kind: 'namespace', namespace, version });
  }

  /** Removes every key of this module (its prefix only; never FLUSHDB), here and on every instance. */
  async clearAll(): Promise<number> {
    this.l1.clear();
    this.namespaceVersions.clear();
    const removed = await this.store.flushPattern(this.keys.allKeysPattern());
    await this.bus?.publish({ kind: 'all' });
    return removed;
  }

  /** Values of many keys (L1 first, the rest in one L2 batch), in order; `undefined` for misses and expired values. */
  async getMany<T>(
    keys: readonly string[],
    options: Pick<TieredCallOptions, 'keyType'> = {},
  ): Promise<(T | undefined)[]> {
    keys.forEach((k, i) => this.keys.assertLogicalKey(k, `keys[${i}]`));
    const now = Date.now();
    const out = new Array<T | undefined>(keys.length);
    const storageKeys = keys.map((k) => this.keys.storageKey(k));
    const missing: number[] = [];
    keys.forEach((k, i) => {
      const hit = this.l1.get(storageKeys[i]);
      const counters = this.stats.of(options.keyType ?? hit?.keyType ?? this.keys.typeOf(k));
      if (hit && now < hit.expiresAt) {
        counters.l1Hits++;
        out[i] = hit.value as T;
      } else {
        counters.l1Misses++;
        missing.push(i);
      }
    });
    if (missing.length === 0) return out;
    const raws = await this.store.pipelineGet(missing.map((i) => storageKeys[i]));
    const corrupt: string[] = [];
    missing.forEach((i, j) => {
      const raw = raws[j];
      const type = options.keyType ?? this.keys.typeOf(keys[i]);
      const counters = this.stats.of(type);
      const storageKey = storageKeys[i];
      const entry = raw === undefined ? undefined : decodeEntry<T>(raw, type);
      if (raw !== undefined && !entry) {
        counters.corrupt++;
        corrupt.push(storageKey);
      }
      if (entry && Date.now() < entry.expiresAt) {
        counters.l2Hits++;
        this.l1.set(storageKey, entry);
        out[i] = entry.value;
      } else counters.l2Misses++;
    });
    for (const k of corrupt) await this.store.delete(k);
    return out;
  }

  /**
   * Stores many values in one L2 batch, then tells the other instances in one message. An entry's
   * `maxStalenessSeconds` overrides its key type's (0: never served past its TTL, e.g. a live day).
   */
  async setMany(entries: readonly BatchEntry[]): Promise<boolean> {
    const now = Date.now();
    const prepared = entries.map((e, i) => {
      this.keys.assertLogicalKey(e.key, `entries[${i}].key`);
      const type = e.keyType ?? this.keys.typeOf(e.key);
      const ttlMs = this.ttlMsOf(e.ttl, type);
      return {
        storageKey: this.keys.storageKey(e.key),
        type,
        ttlMs,
        ...this.encode(
          this.keys.storageKey(e.key),
          type,
          e.value,
          ttlMs,
          now,
          e.maxStalenessSeconds,
        ),
      };
    });
    for (const p of prepared) this.l1.set(p.storageKey, p.entry, now);
    const stored = await this.store.pipelineSet(
      prepared.map((p) => ({ key: p.storageKey, value: p.raw, ttlMs: p.entry.keepUntil - now })),
    );
    if (prepared.length)
      await this.bus?.publish({ kind: 'keys', keys: prepared.map((p) => p.storageKey) });
    return stored;
  }

  /** Statistics: total and per key type, with L1 size and bytes and L2 store errors. */
  getStats(): { total: TieredStatsView; byKeyType: Record<string, TieredStatsView> } {
    const view = this.stats.view({
      size: this.l1.size,
      bytes: this.l1.bytes,
      maxBytes: this.options.l1.maxBytes,
    });
    view.total.l2.errors = this.store.getStats().errors;
    return view;
  }

  /** Waits for background refreshes and late factory results (for shutdown and tests). */
  async drain(): Promise<void> {
    await this.background.drain();
  }

  /** The TTL in ms for a call: its own `ttl`, else the key type's policy TTL (with jitter). */
  ttlMsOf(ttl: TtlInput | undefined, type: CacheKeyType | undefined): number {
    return ttl === undefined ? this.policy.ttlMsFor(type) : ttlToMs(ttl);
  }

  private async storageKeyOf(key: string, namespace: string | undefined): Promise<string> {
    return namespace === undefined ? this.keys.storageKey(key) : this.namespacedKey(key, namespace);
  }

  private async namespacedKey(key: string, namespace: string): Promise<string> {
    let version = this.namespaceVersions.get(namespace);
    if (version === undefined) {
      assertText(namespace, 'namespace', 200);
      version = await this.loadNamespaceVersion(namespace);
    }
    return this.keys.storageKey(key, { name: namespace, version });
  }

  /** The namespace's current version from L2, creating it (SET NX) when absent. */
  private async loadNamespaceVersion(namespace: string): Promise<string> {
    const versionKey = this.keys.namespaceVersionKey(namespace);
    for (let attempt = 0; attempt < 2; attempt++) {
      const stored = await this.store.get(versionKey);
      if (stored !== undefined) {
        this.namespaceVersions.set(namespace, stored);
        return stored;
      }
      const fresh = randomBytes(6).toString('hex');
      const created = await this.store.acquireLock(versionKey, fresh, NAMESPACE_VERSION_TTL_MS);
      if (created === 'acquired') {
        this.namespaceVersions.set(namespace, fresh);
        return fresh;
      }
      if (created === 'unavailable') return fresh; // L2 down: a local version for now, not remembered
    }
    return randomBytes(6).toString('hex');
  }

  /** The slow path of `getOrSet`: stale L1 handling, then single-flight over L2 and the factory. */
  private async resolve<T>(
    storageKey: string,
    key: string,
    factory: Factory<T>,
    options: TieredCallOptions,
    found: CacheEntry | undefined,
  ): Promise<Resolved<T>> {
    let hit = found;
    this.keys.assertLogicalKey(key);
    const type = options.keyType ?? this.keys.typeOf(key);
    const counters = this.stats.of(type);
    counters.l1Misses++;
    const now = Date.now();
    if (hit && now >= hit.keepUntil) {
      this.l1.delete(storageKey);
      hit = undefined;
    }
    if (hit) {
      if (now < hit.expiresAt) {
        counters.staleHits++;
        this.refreshInBackground(storageKey, type, factory, options, hit);
        return { value: hit.value as T, source: 'stale', asOf: hit.asOf };
      }
      if (hit.failSafeUntil !== undefined && now < hit.failSafeUntil) {
        counters.failSafeThrottled++;
        return { value: hit.value as T, source: 'stale', asOf: hit.asOf };
      }
    }
    const running = this.inflight.get(storageKey) as Promise<Resolved<T>> | undefined;
    if (running) return running;
    const work = this.load(
      storageKey,
      type,
      factory,
      options,
      hit as CacheEntry<T> | undefined,
    ).finally(() => this.inflight.delete(storageKey));
    this.inflight.set(storageKey, work);
    return work;
  }

  /** L2 read, then the factory under the distributed lock (or the value its holder wrote). */
  private async load<T>(
    storageKey: string,
    type: CacheKeyType | undefined,
    factory: Factory<T>,
    options: TieredCallOptions,
    hit: CacheEntry<T> | undefined,
  ): Promise<Resolved<T>> {
    const ttlMs = this.ttlMsOf(options.ttl, type);
    const counters = this.stats.of(type);
    let fallback = hit;
    const errorsBefore = this.store.getStats().errors;
    const entry = await this.readL2<T>(storageKey, type);
    // When L2 just failed, skip the lock: one timeout per call is the most a caller pays.
    const l2Failed = this.store.getStats().errors > errorsBefore;
    const now = Date.now();
    if (entry) {
      if (now < entry.staleAt) {
        counters.l2Hits++;
        this.l1.set(storageKey, entry, now);
        return { value: entry.value, source: this.l2Source, asOf: entry.asOf };
      }
      if (now < entry.expiresAt) {
        counters.staleHits++;
        this.l1.set(storageKey, entry, now);
        this.refreshInBackground(storageKey, type, factory, options, entry);
        return { value: entry.value, source: 'stale', asOf: entry.asOf };
      }
      counters.l2Misses++;
      if (!fallback || entry.asOf > fallback.asOf) fallback = entry;
    } else {
      counters.l2Misses++;
    }
    const lockKey = this.keys.lockKey(storageKey);
    const token = randomUUID();
    let lock = l2Failed
      ? 'unavailable'
      : await this.store.acquireLock(lockKey, token, this.lockTtlMs);
    if (lock === 'busy') {
      const written = await this.waitForHolder<T>(storageKey, type, fallback?.asOf ?? 0);
      if (written) {
        counters.l2Hits++;
        return { value: written.value, source: this.l2Source, asOf: written.asOf };
      }
      lock = await this.store.acquireLock(lockKey, token, this.lockTtlMs);
    }
    const release =
      lock === 'acquired' ? () => void this.store.releaseLock(lockKey, token) : () => undefined;
    return this.runFactory(storageKey, type, factory, options, ttlMs, fallback, release);
  }

  /** Polls L2 (10 ms, doubling to 100 ms) until the lock holder's value appears or the wait bound passes. */
  private async waitForHolder<T>(
    storageKey: string,
    type: CacheKeyType | undefined,
    newerThan: number,
  ): Promise<CacheEntry<T> | undefined> {
    // The wait is bounded on the monotonic clock: a wall-clock jump never stretches or cuts it.
    const deadline = performance.now() + this.lockWaitMs;
    let delay = 10;
    while (performance.now() < deadline) {
      await sleep(Math.min(delay, Math.max(1, deadline - performance.now())));
      delay = Math.min(delay * 2, 100);
      const entry = await this.readL2<T>(storageKey, type);
      if (entry && entry.asOf > newerThan && Date.now() < entry.expiresAt) {
        this.l1.set(storageKey, entry);
        return entry;
      }
    }
    return undefined;
  }

  /** Runs the factory with soft/hard timeouts; stores its value; falls back to the stale entry per fail-safe. */
  private async runFactory<T>(
    storageKey: string,
    type: CacheKeyType | undefined,
    factory: Factory<T>,
    options: TieredCallOptions,
    ttlMs: number,
    fallback: CacheEntry<T> | undefined,
    release: () => void,
  ): Promise<Resolved<T>> {
    const counters = this.stats.of(type);
    counters.factoryCalls++;
    const started = Date.now();
    // The caller gets the value as soon as the factory answers; the L2 write, the bus message and
    // the lock release follow in the background (lock waiters poll L2, so they see the write).
    const work = startFactory(factory).then((value) => {
      const { raw, entry } = this.encode(storageKey, type, value, ttlMs, Date.now());
      this.l1.set(storageKey, entry);
      this.track(this.persist(storageKey, raw, entry).finally(release));
      return entry;
    });
    this.track(
      work.then(undefined, (e: unknown) => {
        release();
        counters.factoryErrors++;
        this.log.warn('factory', `cache factory failed: ${errorSummary(e)}`);
      }),
    );
    const hardTimeoutMs = options.hardTimeoutMs ?? this.options.hardTimeoutMs;
    const usable = fallback && started < fallback.keepUntil ? fallback : undefined;
    const softTimeoutMs = usable
      ? (options.softTimeoutMs ?? this.options.softTimeoutMs)
      : undefined;
    const outcome = await raceFactory(work, softTimeoutMs, hardTimeoutMs);
    if (outcome.kind === 'value')
      return { value: outcome.value.value, source: 'factory', asOf: outcome.value.asOf };
    if (usable && Date.now() < usable.keepUntil) {
      if (outcome.kind === 'soft-timeout') counters.staleHits++;
      else {
        counters.failSafeServed++;
        usable.failSafeUntil = Date.now() + this.options.failSafeThrottleMs;
        this.l1.set(storageKey, usable);
      }
      return { value: usable.value, source: 'stale', asOf: usable.asOf };
    }
    if (outcome.kind === 'error')
      throw outcome.error instanceof CacheError
        ? outcome.error
        : new FactoryError(storageKey, outcome.error);
    throw new FactoryTimeoutError(storageKey, hardTimeoutMs);
  }

  /** Stores a value: L1 (a frozen decoded copy) and L2, then tells the other instances. */
  private async write<T>(
    storageKey: string,
    type: CacheKeyType | undefined,
    value: T,
    ttlMs: number,
    now: number,
  ): Promise<{ entry: CacheEntry<T>; stored: boolean }> {
    const { raw, entry } = this.encode(storageKey, type, value, ttlMs, now);
    this.l1.set(storageKey, entry, now);
    return { entry, stored: await this.persist(storageKey, raw, entry) };
  }

  /** Writes an encoded entry to L2 (TTL: until `keepUntil`) and evicts it from the other instances' L1. */
  private async persist(storageKey: string, raw: string, entry: CacheEntry): Promise<boolean> {
    const stored = await this.store.set(storageKey, raw, Math.max(1, entry.keepUntil - Date.now()));
    await this.bus?.publish({ kind: 'keys', keys: [storageKey] });
    return stored;
  }

  /** The stored text of a value and its frozen decoded entry; refuses values over `maxValueBytes`. */
  private encode<T>(
    storageKey: string,
    type: CacheKeyType | undefined,
    value: T,
    ttlMs: number,
    now: number,
    maxStalenessSeconds?: number,
  ): { raw: string; entry: CacheEntry<T> } {
    const expiresAt = now + ttlMs;
    const staleAt = expiresAt - (ttlMs * this.options.swrPercent) / 100;
    const keepUntil = expiresAt + (maxStalenessSeconds ?? this.policy.maxStalenessFor(type)) * 1000;
    const raw = encodeEntry(value, now, staleAt, expiresAt, keepUntil);
    if (raw.length > this.options.maxValueBytes)
      throw new ValueTooLargeError(storageKey, raw.length, this.options.maxValueBytes);
    const entry = decodeEntry<T>(raw, type);
    if (!entry)
      throw new CacheValidationError(
        'value',
        'value cannot be cached: it carries a "__proto__" key',
      );
    return { raw, entry };
  }

  /** Reads and decodes an L2 entry; a corrupt one is counted, deleted and answered as a miss. */
  private async readL2<T>(
    storageKey: string,
    type: CacheKeyType | undefined,
  ): Promise<CacheEntry<T> | undefined> {
    const raw = await this.store.get(storageKey);
    if (raw === undefined) return undefined;
    const entry = decodeEntry<T>(raw, type);
    if (!entry) {
      this.stats.of(type).corrupt++;
      this.log.warn(
        'corrupt',
        'a cached value could not be decoded; it was deleted and counted as a miss',
      );
      await this.store.delete(storageKey);
    }
    return entry;
  }

  /** Refreshes a stale key in the background: at most one refresh per key across instances (the lock). */
  private refreshInBackground<T>(
    storageKey: string,
    type: CacheKeyType | undefined,
    factory: Factory<T>,
    options: TieredCallOptions,
    stale: CacheEntry,
  ): void {
    if (this.refreshing.has(storageKey)) return;
    this.refreshing.add(storageKey);
    const counters = this.stats.of(type);
    const lockKey = this.keys.lockKey(storageKey);
    const token = randomUUID();
    const job = (async () => {
      const lock = await this.store.acquireLock(lockKey, token, this.lockTtlMs);
      if (lock === 'busy') return;
      try {
        const current = await this.readL2<T>(storageKey, type);
        if (current && current.asOf > stale.asOf && Date.now() < current.staleAt) {
          this.l1.set(storageKey, current);
          return;
        }
        counters.backgroundRefreshes++;
        const outcome = await raceFactory(
          startFactory(factory),
          undefined,
          options.hardTimeoutMs ?? this.options.hardTimeoutMs,
        );
        if (outcome.kind !== 'value')
          throw outcome.kind === 'error'
            ? outcome.error
            : new FactoryTimeoutError(
                storageKey,
                options.hardTimeoutMs ?? this.options.hardTimeoutMs,
              );
        await this.write(
          storageKey,
          type,
          outcome.value,
          this.ttlMsOf(options.ttl, type),
          Date.now(),
        );
      } catch (e) {
        counters.refreshFailures++;
        this.log.warn(
          'refresh',
          `background refresh failed; the stale value stays: ${errorSummary(e)}`,
        );
      } finally {
        if (lock === 'acquired') await this.store.releaseLock(lockKey, token);
      }
    })().finally(() => this.refreshing.delete(storageKey));
    this.track(job);
  }

  private track(p: Promise<unknown>): void {
    this.background.track(p);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
