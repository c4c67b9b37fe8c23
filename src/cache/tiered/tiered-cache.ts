import { randomUUID } from 'node:crypto';
import { CacheKeyBuilder, type ResolvedKey } from '../keys/cache-key-builder.js';
import type { CacheKeyType } from '../keys/cache-key-type.js';
import type { CacheTTLPolicy } from '../keys/cache-ttl-policy.js';
import type { TtlInput } from '../keys/ttl.js';
import { checkAsOf, type CacheStore } from '../stores/cache-store.js';
import type { CacheEntry } from './cache-entry.js';
import type { CacheStats, TieredStatsView } from './cache-stats.js';
import { GetOrSetHandler } from './get-or-set.js';
import type { BusMessage, InvalidationBus } from './invalidation-bus.js';
import type { InvalidationResult, InvalidationTarget } from './invalidation-target.js';
import type { L1Cache } from './l1-cache.js';
import { globToRegExp } from '../util/glob.js';
import { Namespaces } from './namespaces.js';
import { ResolvedKeys } from './resolved-keys.js';
import { TierStack } from './tier-stack.js';
import { CallSpans } from './call-spans.js';
import { callTracer, hotCallTracer } from './tracing.js';
import type {
  BatchEntry,
  Factory,
  Resolved,
  TieredCacheOptions,
  TieredCallOptions,
} from './tiered-cache.options.js';

export type { InvalidationResult } from './invalidation-target.js';
export type {
  BatchEntry,
  Factory,
  FactoryContext,
  Resolved,
  TieredCacheOptions,
  TieredCallOptions,
} from './tiered-cache.options.js';

/** The value of a resolved answer (a module function: no closure per call). */
function valueOf<T>(r: Resolved<T>): T {
  return r.value;
}

/**
 * The stack: L1 memory over one L2 `CacheStore`, with stale-while-revalidate, fail-safe,
 * factory timeouts, in-process single-flight, a distributed lock across instances, namespaces
 * with O(1) clear, and cross-instance L1 invalidation through the bus.
 *
 * This class is the public API: it resolves each key once at its entry (checked, typed, in its
 * stored form) and hands the resolved key down to the read path (`get-or-set.ts`, where the
 * decision table lives), the plumbing (`tier-stack.ts`) and the namespaces (`namespaces.ts`).
 */
export class TieredCache {
  /** Hit, miss, stale and factory counters per key type. */
  readonly stats: CacheStats;
  /** The in-process tier. */
  readonly l1: L1Cache;
  /** Id of this instance on the invalidation bus. */
  readonly instanceId: string;
  private readonly stack: TierStack;
  private readonly namespaces: Namespaces;
  private readonly handler: GetOrSetHandler;
  /** Keys outside any namespace, resolved once and remembered (the most recent ones). */
  private readonly resolved: ResolvedKeys;
  /** The root span of each public call, while an OpenTelemetry SDK is registered. */
  private readonly spans: CallSpans;

  constructor(
    readonly store: CacheStore,
    readonly keys: CacheKeyBuilder,
    readonly policy: CacheTTLPolicy,
    options: TieredCacheOptions,
  ) {
    this.stack = new TierStack(store, keys, policy, options);
    this.stats = this.stack.stats;
    this.l1 = this.stack.l1;
    this.instanceId = options.instanceId ?? randomUUID();
    this.namespaces = new Namespaces(this.stack);
    this.handler = new GetOrSetHandler(this.stack, options);
    this.resolved = new ResolvedKeys(keys);
    this.spans = new CallSpans(keys, store.kind);
  }

  /** Attaches the invalidation bus (after it was built with `onBusMessage` as its handler). */
  attachBus(bus: InvalidationBus): void {
    this.stack.attachBus(bus);
  }

  /** Stops the bus (shutdown). */
  async detachBus(): Promise<void> {
    await this.stack.detachBus();
  }

  /** True while the invalidation bus is connected (always true without a bus). */
  get busConnected(): boolean {
    return this.stack.busConnected;
  }

  /**
   * Applies a message from another instance to this instance's L1. `all` (sent by `clearAll`, and
   * raised by the bus itself when its subscription comes back after a drop) also replays this
   * instance's pending invalidations at once: the store answers again.
   */
  onBusMessage(message: BusMessage): void {
    if (message.kind === 'keys') {
      // After a write (`asOf` given) only a newer L1 entry stays; a tie goes as in L2 (later wins).
      const { keys, asOf } = message;
      for (let i = 0; i < keys.length; i++)
        if (asOf === undefined) this.l1.delete(keys[i]);
        else this.l1.evictOlder(keys[i], asOf[i], true);
    } else if (message.kind === 'entity') this.l1.deleteEntity(message.entity, message.type);
    else if (message.kind === 'pattern') {
      const re = globToRegExp(message.pattern);
      this.l1.deleteWhere((k) => re.test(k));
    } else if (message.kind === 'namespace')
      this.namespaces.adopt(message.namespace, message.version);
    else {
      this.l1.clear();
      this.namespaces.forgetAll();
      this.stack.track(this.stack.invalidator.replay());
    }
  }

  /**
   * The value of `key`: a fresh L1 hit costs one map lookup; otherwise L2, then `factory` under
   * single-flight and the distributed lock. Stale values are served per SWR and fail-safe rules.
   * Never throws: a bad key or TTL is a rejected promise. Not an async function: an L2 hit costs
   * one `then` here rather than a suspended frame. Spans (while an OpenTelemetry SDK is
   * registered) come from `getOrSetResult`; see `hotCallTracer` for what the check costs.
   */
  getOrSet<T>(key: string, factory: Factory<T>, options: TieredCallOptions = {}): Promise<T> {
    if (options.namespace !== undefined || hotCallTracer() !== undefined)
      return this.getOrSetResult(key, factory, options).then(valueOf);
    // The hot path: L1 is keyed by the logical key, so a fresh hit builds no string.
    const hit = this.l1.getLogical(key);
    if (hit !== undefined && Date.now() < hit.staleAt) {
      this.stats.of(hit.keyType).l1Hits++;
      return Promise.resolve(hit.value as T);
    }
    // Past L1 the full check: an SDK registered since the last one is seen by this call.
    if (callTracer() !== undefined) return this.getOrSetResult(key, factory, options).then(valueOf);
    try {
      const r = this.handler.afterL1Miss(
        this.resolved.resolve(key, options.keyType),
        factory,
        options,
        hit,
      );
      return r instanceof Promise ? r.then(valueOf) : Promise.resolve(r.value);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** A fresh L1 entry of a logical key outside any namespace (counted as an L1 hit), else `undefined`; never reads L2. */
  peekFresh<T>(key: string): { value: T; asOf: number } | undefined {
    const hit = this.l1.getLogical(key);
    if (hit === undefined || Date.now() >= hit.staleAt) return undefined;
    this.stats.of(hit.keyType).l1Hits++;
    return hit as CacheEntry<T>;
  }

  /** Like `getOrSet`, answering where the value came from and when it was produced. */
  getOrSetResult<T>(
    key: string,
    factory: Factory<T>,
    options: TieredCallOptions = {},
  ): Promise<Resolved<T>> {
    const tracer = callTracer();
    if (tracer !== undefined)
      return this.spans.getOrSet(tracer, key, options.keyType, () =>
        this.getOrSetResult(key, factory, options),
      );
    if (options.namespace !== undefined)
      return this.getOrSetIn(key, options.namespace, factory, options);
    const hit = this.l1.getLogical(key);
    if (hit !== undefined && Date.now() < hit.staleAt) {
      this.stats.of(hit.keyType).l1Hits++;
      return Promise.resolve({ value: hit.value as T, source: 'l1', asOf: hit.asOf });
    }
    try {
      const r = this.handler.afterL1Miss(
        this.resolved.resolve(key, options.keyType),
        factory,
        options,
        hit,
      );
      return r instanceof Promise ? r : Promise.resolve(r);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Reads `key` without a factory: fresh or SWR-stale values, else `undefined`. */
  async get<T>(
    key: string,
    options: Pick<TieredCallOptions, 'keyType' | 'namespace'> = {},
  ): Promise<Resolved<T> | undefined> {
    const tracer = callTracer();
    if (tracer !== undefined)
      return this.spans.get(tracer, key, options.keyType, () => this.get<T>(key, options));
    const resolved =
      options.namespace === undefined
        ? this.resolved.resolve(key, options.keyType)
        : await this.resolveIn(key, options.namespace, options.keyType);
    return this.handler.read<T>(resolved);
  }

  /**
   * Stores `value` in L1 and L2 and evicts older copies of `key` from every other instance's L1.
   * Monotonic on `options.asOf` (default now): an entry with a larger `asOf` is never replaced.
   * `true` when L2 holds this value or a newer one; `false` when L2 could not take it.
   */
  async set<T>(key: string, value: T, options: TieredCallOptions = {}): Promise<boolean> {
    const tracer = callTracer();
    if (tracer !== undefined)
      return this.spans.set(tracer, key, options.keyType, () => this.set(key, value, options));
    const resolved =
      options.namespace === undefined
        ? this.resolved.resolve(key, options.keyType)
        : await this.resolveIn(key, options.namespace, options.keyType);
    const ttlMs = this.stack.ttlMsOf(options.ttl, resolved.type);
    checkAsOf(options.asOf);
    const now = Date.now();
    return (await this.stack.write(resolved, value, ttlMs, now, options.asOf ?? now)).stored;
  }

  /** Removes `key` from L1, L2 and every other instance's L1 (see `invalidate`); `true` when L2 held it. */
  async delete(key: string, options: Pick<TieredCallOptions, 'namespace'> = {}): Promise<boolean> {
    return (await this.invalidateKey(key, options)).deleted > 0;
  }

  /** `delete`, answering what was done (`complete: false` when L2 or the bus did not take it). */
  async invalidateKey(
    key: string,
    options: Pick<TieredCallOptions, 'namespace'> = {},
  ): Promise<InvalidationResult> {
    const { storageKey } =
      options.namespace === undefined
        ? this.keys.resolve(key)
        : await this.resolveIn(key, options.namespace, undefined);
    return this.invalidate({ kind: 'keys', keys: [storageKey] });
  }

  /**
   * Every key of one entity (a ticker: `{type}:{entity}:…`), of one key type when given: evicted
   * from this L1 at once through its entity index, removed from L2, and evicted from every other
   * instance's L1 by one bus message naming the entity (never a whole-L1 clear, at any size).
   */
  invalidateEntity(entity: string, type?: CacheKeyType): Promise<InvalidationResult> {
    const { pattern, matches } = this.keys.entityMatcher(type, entity);
    return this.invalidate({
      kind: 'entity',
      entity: CacheKeyBuilder.escape(entity),
      type,
      pattern,
      matches,
    });
  }

  /**
   * Runs an invalidation: this L1 first (whatever L2 does), then L2, then the bus. When L2 or the
   * bus does not take it, the result says so (`complete: false`) and it is replayed until they do;
   * meanwhile the L2 values it covers are not served here.
   */
  invalidate(target: InvalidationTarget): Promise<InvalidationResult> {
    const tracer = callTracer();
    if (tracer !== undefined)
      return this.spans.invalidate(tracer, target, () => this.invalidate(target));
    return this.stack.invalidator.run(target);
  }

  /** Clears a namespace in O(1): a new version is stored, so its old keys are never read again. */
  async clearNamespace(namespace: string): Promise<void> {
    const tracer = callTracer();
    if (tracer !== undefined)
      return this.spans.flush(tracer, 'namespace', () => this.clearNamespace(namespace));
    await this.namespaces.clear(namespace);
  }

  /** Removes every key of this module (its prefix only; never FLUSHDB), here and on every instance. */
  async clearAll(): Promise<number> {
    const tracer = callTracer();
    if (tracer !== undefined) return this.spans.flush(tracer, 'all', () => this.clearAll());
    this.l1.clear();
    this.namespaces.forgetAll();
    const removed = await this.store.flushPattern(this.keys.allKeysPattern());
    await this.stack.publish({ kind: 'all' });
    return removed;
  }

  /** Values of many keys (L1 first, the rest in one L2 batch), in order; `undefined` for misses and expired values. */
  async getMany<T>(
    keys: readonly string[],
    options: Pick<TieredCallOptions, 'keyType'> = {},
  ): Promise<(T | undefined)[]> {
    const { keyType } = options;
    const tracer = callTracer();
    if (tracer !== undefined)
      return this.spans.getMany(tracer, keys, keyType, () => this.getMany<T>(keys, options));
    const resolved = new Array<ResolvedKey>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      try {
        resolved[i] = this.resolved.resolve(keys[i], keyType);
      } catch (e) {
        // Resolved again only to name the bad key's position (no field string built per good key).
        this.keys.resolve(keys[i], keyType, undefined, `keys[${i}]`);
        throw e;
      }
    }
    return this.stack.readMany<T>(resolved, keyType);
  }

  /**
   * Stores many values in one L2 batch, then tells the other instances in one message. An entry's
   * `maxStalenessSeconds` overrides its key type's (0: never served past its TTL, e.g. a live day).
   * Each entry is monotonic on its `asOf` (default now), as `set`.
   */
  async setMany(entries: readonly BatchEntry[]): Promise<boolean> {
    const tracer = callTracer();
    if (tracer !== undefined)
      return this.spans.setMany(tracer, entries, () => this.setMany(entries));
    const now = Date.now();
    const encoded = entries.map((e, i) => {
      const key = this.resolved.resolve(e.key, e.keyType, `entries[${i}].key`);
      const ttlMs = this.stack.ttlMsOf(e.ttl, key.type);
      checkAsOf(e.asOf, `entries[${i}].asOf`);
      const encoded = this.stack.encode(key, e.value, ttlMs, now, e.maxStalenessSeconds, e.asOf);
      return { key, ...encoded };
    });
    return this.stack.writeMany(encoded, now);
  }

  /** Statistics: total and per key type, with L1 size and bytes and L2 store errors. */
  getStats(): { total: TieredStatsView; byKeyType: Record<string, TieredStatsView> } {
    return this.stack.statsView();
  }

  /** Waits for background refreshes and late factory results (for shutdown and tests). */
  async drain(): Promise<void> {
    await this.stack.drain();
  }

  /** The TTL in ms for a call: its own `ttl`, else the key type's policy TTL (with jitter). */
  ttlMsOf(ttl: TtlInput | undefined, type: CacheKeyType | undefined): number {
    return this.stack.ttlMsOf(ttl, type);
  }

  /** `getOrSet` inside a namespace: the key is resolved under the namespace's current version. */
  private async getOrSetIn<T>(
    key: string,
    namespace: string,
    factory: Factory<T>,
    options: TieredCallOptions,
  ): Promise<Resolved<T>> {
    // The namespace's head is known after its first use: then no await before the L1 lookup.
    const head = this.namespaces.cachedHead(namespace) ?? (await this.namespaces.load(namespace));
    const resolved = this.keys.resolve(key, options.keyType, head);
    const hit = this.l1.get(resolved.storageKey);
    if (hit !== undefined && Date.now() < hit.staleAt) {
      this.stats.of(hit.keyType).l1Hits++;
      return { value: hit.value as T, source: 'l1', asOf: hit.asOf };
    }
    return this.handler.afterL1Miss(resolved, factory, options, hit);
  }

  /** Resolves `key` once inside `namespace` (its version loaded from L2 on first use). */
  private async resolveIn(
    key: string,
    namespace: string,
    keyType: CacheKeyType | undefined,
  ): Promise<ResolvedKey> {
    const head = this.namespaces.cachedHead(namespace) ?? (await this.namespaces.load(namespace));
    return this.keys.resolve(key, keyType, head);
  }
}
