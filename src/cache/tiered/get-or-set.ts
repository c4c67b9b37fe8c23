/*
 * The read path of the tiered cache, in one place. An entry's timeline (epoch ms): fresh until
 * `staleAt`; stale (SWR window, the last `swrPercent` of the TTL) until `expiresAt`; expired but
 * kept for fail-safe until `keepUntil` (the key type's max staleness past expiry).
 *
 * getOrSet(key, factory):
 *
 * | case                       | served (source)                      | then, in the background   |
 * |----------------------------|--------------------------------------|---------------------------|
 * | L1 fresh                   | L1 value (`l1`); checked inline at   | nothing                   |
 * |                            | the entry of TieredCache             |                           |
 * | L1 stale                   | L1 value (`stale`)                   | one refresh (below)       |
 * | L1 expired, fail-safe      | L1 value (`stale`)                   | nothing                   |
 * | throttle running           |                                      |                           |
 * | L1 past `keepUntil`        | dropped from L1: go on as not in L1  |                           |
 * | same key loading in this   | that load's answer (single-flight)   |                           |
 * | process                    |                                      |                           |
 * | L2 fresh                   | L2 value (`l2`/`file`), copied to L1 | nothing                   |
 * | L2 stale                   | L2 value (`stale`), copied to L1     | one refresh (below)       |
 * | L2 expired or missing,     | factory value (`factory`), into L1   | L2 write, bus message,    |
 * | lock acquired              |                                      | lock release              |
 * | L2 read just failed, or    | as above, without the lock           | L2 write, bus message     |
 * | lock unavailable           |                                      |                           |
 * | lock held elsewhere        | the holder's value once in L2        |                           |
 * |                            | (`l2`), polled up to `lockWaitMs`;   |                           |
 * |                            | else the factory as above            |                           |
 * | factory soft timeout, a    | kept value (`stale`)                 | the factory goes on and   |
 * | kept value                 |                                      | stores                    |
 * | factory error or hard      | kept value (`stale`), then served    | (timeout) the factory     |
 * | timeout, a kept value      | without the source for               | goes on and stores        |
 * |                            | `failSafeThrottleMs`                 |                           |
 * | factory error, no kept     | throws `FactoryError` (a             | nothing                   |
 * | value                      | `CacheError` from the factory as it  |                           |
 * |                            | is)                                  |                           |
 * | factory hard timeout, no   | throws `FactoryTimeoutError`         | the factory goes on and   |
 * | kept value                 |                                      | stores                    |
 *
 * "A kept value": the newer of the L1 and L2 entries, still before its `keepUntil`; the soft
 * timeout applies only when there is one. A refresh runs at most once per key here and once
 * across instances (the lock): lock busy → skip; L2 already holds a newer fresh value → copy it
 * to L1; else the factory (hard timeout) and a write. A failed refresh is counted and the stale
 * value stays.
 *
 * get(key) without a factory: L1 fresh (`l1`), L1 stale (`stale`), L2 fresh (`l2`/`file`), L2
 * stale (`stale`), else a miss; it never refreshes or calls a source.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { CacheError, FactoryError, FactoryTimeoutError } from '../errors/cache-errors.js';
import type { ResolvedKey } from '../keys/cache-key-builder.js';
import { errorSummary } from '../util/rate-limited-logger.js';
import { entryOf, type CacheEntry } from './cache-entry.js';
import { BackgroundRefresher } from './background-refresh.js';
import { observedFactory, raceFactory } from './factory-runner.js';
import type { TierStack } from './tier-stack.js';
import {
  CacheSpan,
  activeTracer,
  lookupAttributes,
  markFound,
  traced,
  tracedLookup,
} from './tracing.js';
import type {
  Factory,
  FactoryContext,
  Resolved,
  TieredCacheOptions,
  TieredCallOptions,
} from './tiered-cache.options.js';

/** The read path of `TieredCache` below its L1 fast path: the decision table above, row by row. */
export class GetOrSetHandler {
  private readonly inflight = new Map<string, Promise<Resolved<unknown>>>();
  private readonly refresher: BackgroundRefresher;
  private readonly lockTtlMs: number;
  private readonly lockWaitMs: number;

  constructor(
    private readonly stack: TierStack,
    private readonly options: TieredCacheOptions,
  ) {
    this.lockTtlMs = options.lockTtlMs ?? options.hardTimeoutMs + 1000;
    this.lockWaitMs = options.lockWaitMs ?? this.lockTtlMs;
    this.refresher = new BackgroundRefresher(stack, options.hardTimeoutMs, this.lockTtlMs);
  }

  /**
   * `getOrSet` once L1 had no fresh entry (`found`: the L1 entry, if any): stale L1 handling, then
   * single-flight over L2 and the factory. An L1 answer is given synchronously (no promise).
   */
  afterL1Miss<T>(
    key: ResolvedKey,
    factory: Factory<T>,
    options: TieredCallOptions,
    found: CacheEntry | undefined,
  ): Resolved<T> | Promise<Resolved<T>> {
    let hit = found;
    const counters = this.stack.stats.of(key.type);
    counters.l1Misses++;
    if (hit) {
      const now = Date.now();
      if (now >= hit.keepUntil) {
        this.stack.l1.delete(key.storageKey);
        hit = undefined;
      } else if (now < hit.expiresAt) {
        counters.staleHits++;
        this.refresher.refresh(key, factory, options, hit.asOf);
        return { value: hit.value as T, source: 'stale', asOf: hit.asOf };
      } else if (hit.failSafeUntil !== undefined && now < hit.failSafeUntil) {
        counters.failSafeThrottled++;
        return { value: hit.value as T, source: 'stale', asOf: hit.asOf };
      }
    }
    const running = this.inflight.get(key.storageKey) as Promise<Resolved<T>> | undefined;
    if (running) return running;
    // `load` leaves `inflight` itself, in a `then` of the store's read: always after this `set`.
    const work = this.load(key, factory, options, hit as CacheEntry<T> | undefined);
    this.inflight.set(key.storageKey, work);
    return work;
  }

  /**
   * `get` without a factory: fresh or SWR-stale values, else `undefined`. Answers synchronously
   * from L1, so an L1 answer costs no extra promise.
   */
  read<T>(key: ResolvedKey): Resolved<T> | undefined | Promise<Resolved<T> | undefined> {
    const counters = this.stack.stats.of(key.type);
    const now = Date.now();
    const hit = this.stack.l1.get(key.storageKey);
    if (hit && now < hit.staleAt) {
      counters.l1Hits++;
      return { value: hit.value as T, source: 'l1', asOf: hit.asOf };
    }
    counters.l1Misses++;
    if (hit && now < hit.expiresAt) {
      counters.staleHits++;
      return { value: hit.value as T, source: 'stale', asOf: hit.asOf };
    }
    return this.readL2Only<T>(key, now);
  }

  /** The L2 half of `read` (`now`: when the read started). */
  private async readL2Only<T>(key: ResolvedKey, now: number): Promise<Resolved<T> | undefined> {
    const counters = this.stack.stats.of(key.type);
    const tracer = activeTracer();
    const entry = await (tracer === undefined
      ? this.stack.readL2<T>(key)
      : traced(
          tracer,
          CacheSpan.lookup,
          lookupAttributes(key.type),
          () => this.stack.readL2<T>(key),
          (span, found) => markFound(span, found !== undefined),
        ));
    if (!entry || now >= entry.expiresAt) {
      counters.l2Misses++;
      return undefined;
    }
    this.stack.l1.set(key.storageKey, entry);
    if (now < entry.staleAt) {
      counters.l2Hits++;
      return { value: entry.value, source: this.stack.l2Source, asOf: entry.asOf };
    }
    counters.staleHits++;
    return { value: entry.value, source: 'stale', asOf: entry.asOf };
  }

  /**
   * L2 read, then the factory under the distributed lock (or the value its holder wrote). Leaves
   * `inflight` when it settles. No async function on the L2-hit path: one `then` on the store's
   * read (an async frame per call costs more memory than the hit itself, and 1,000 reads in
   * flight are 1,000 frames for the scavenger to copy).
   */
  private load<T>(
    key: ResolvedKey,
    factory: Factory<T>,
    options: TieredCallOptions,
    hit: CacheEntry<T> | undefined,
  ): Promise<Resolved<T>> {
    // When the L2 read fails, skip the lock: one timeout per call is the most a caller pays.
    const errorsBefore = this.stack.l2Errors();
    // A store that throws here throws out of `afterL1Miss`, before `inflight` is set.
    const tracer = activeTracer();
    const read =
      tracer === undefined
        ? this.stack.store.get(key.storageKey)
        : tracedLookup(tracer, key.type, () => this.stack.store.get(key.storageKey));
    return read.then(
      (raw) => this.afterL2Read(key, raw, factory, options, hit, errorsBefore),
      (e: unknown) => {
        this.inflight.delete(key.storageKey);
        throw e;
      },
    );
  }

  /**
   * Step 1 of `load` once L2 answered `raw`: a fresh or stale L2 value is answered at once (and
   * `inflight` left); otherwise `missPath` goes on (and leaves `inflight` when it settles).
   */
  private afterL2Read<T>(
    key: ResolvedKey,
    raw: string | undefined,
    factory: Factory<T>,
    options: TieredCallOptions,
    hit: CacheEntry<T> | undefined,
    errorsBefore: number,
  ): Resolved<T> | Promise<Resolved<T>> {
    const { stack } = this;
    let answered = true; // false once `missPath` has the rest (it leaves `inflight` itself)
    try {
      // The call's own TTL is checked here (it throws on a bad one); the policy's is read when needed.
      const ownTtlMs = options.ttl === undefined ? undefined : stack.ttlMsOf(options.ttl, key.type);
      const env = raw === undefined ? undefined : stack.decodeL2<T>(key, raw);
      if (env === null) {
        answered = false;
        return this.missPath(key, factory, options, ownTtlMs, hit, errorsBefore);
      }
      const counters = stack.stats.of(key.type);
      const now = Date.now();
      let fallback = hit;
      if (env) {
        const size = (raw as string).length;
        if (now < env.s) {
          counters.l2Hits++;
          stack.keepInL1(key, env, size, now);
          return { value: env.v, source: stack.l2Source, asOf: env.a };
        }
        if (now < env.e) {
          counters.staleHits++;
          stack.keepInL1(key, env, size, now);
          this.refresher.refresh(key, factory, options, env.a);
          return { value: env.v, source: 'stale', asOf: env.a };
        }
        if (!fallback || env.a > fallback.asOf) fallback = entryOf(env, size, key.type);
      }
      counters.l2Misses++;
      answered = false;
      return this.missPath(key, factory, options, ownTtlMs, fallback, errorsBefore, false);
    } finally {
      if (answered) this.inflight.delete(key.storageKey);
    }
  }

  /** `load` past an L2 miss (or a corrupt L2 value, deleted first): lock, factory; leaves `inflight`. */
  private async missPath<T>(
    key: ResolvedKey,
    factory: Factory<T>,
    options: TieredCallOptions,
    ownTtlMs: number | undefined,
    fallback: CacheEntry<T> | undefined,
    errorsBefore: number,
    corrupt = true,
  ): Promise<Resolved<T>> {
    const { stack } = this;
    try {
      if (corrupt) {
        await stack.store.delete(key.storageKey);
        stack.stats.of(key.type).l2Misses++;
      }
      const l2Failed = stack.l2Errors() > errorsBefore;
      const ttlMs = ownTtlMs ?? stack.ttlMsOf(undefined, key.type);
      return await this.lockThenFactory(key, factory, options, ttlMs, fallback, l2Failed);
    } finally {
      this.inflight.delete(key.storageKey);
    }
  }

  /** Steps 2 and 3 of `load`: the lock (while another instance holds it, wait for the value it writes), then the factory. */
  private async lockThenFactory<T>(
    key: ResolvedKey,
    factory: Factory<T>,
    options: TieredCallOptions,
    ttlMs: number,
    fallback: CacheEntry<T> | undefined,
    l2Failed: boolean,
  ): Promise<Resolved<T>> {
    const { stack } = this;
    const lockKey = stack.keys.lockKey(key.storageKey);
    const token = randomUUID();
    let lock = l2Failed
      ? 'unavailable'
      : await stack.store.acquireLock(lockKey, token, this.lockTtlMs);
    if (lock === 'busy') {
      const written = await this.waitForHolder<T>(key, fallback?.asOf ?? 0);
      if (written) {
        stack.stats.of(key.type).l2Hits++;
        return { value: written.value, source: stack.l2Source, asOf: written.asOf };
      }
      lock = await stack.store.acquireLock(lockKey, token, this.lockTtlMs);
    }
    // Step 3: the factory, with the fallback for fail-safe.
    const release =
      lock === 'acquired' ? () => void stack.store.releaseLock(lockKey, token) : () => undefined;
    return this.runFactory(key, factory, options, ttlMs, fallback, release);
  }

  /** Polls L2 (10 ms, doubling to 100 ms) until the lock holder's value appears or the wait bound passes. */
  private async waitForHolder<T>(
    key: ResolvedKey,
    newerThan: number,
  ): Promise<CacheEntry<T> | undefined> {
    // The wait is bounded on the monotonic clock: a wall-clock jump never stretches or cuts it.
    const deadline = performance.now() + this.lockWaitMs;
    let delayMs = 10;
    while (performance.now() < deadline) {
      await sleep(Math.min(delayMs, Math.max(1, deadline - performance.now())));
      delayMs = Math.min(delayMs * 2, 100);
      const entry = await this.stack.readL2<T>(key);
      if (entry && entry.asOf > newerThan && Date.now() < entry.expiresAt) {
        this.stack.l1.set(key.storageKey, entry);
        return entry;
      }
    }
    return undefined;
  }

  /** Runs the factory with soft/hard timeouts; stores its value; falls back to the kept entry per fail-safe. */
  private async runFactory<T>(
    key: ResolvedKey,
    factory: Factory<T>,
    options: TieredCallOptions,
    ttlMs: number,
    fallback: CacheEntry<T> | undefined,
    release: () => void,
  ): Promise<Resolved<T>> {
    const { stack } = this;
    const counters = stack.stats.of(key.type);
    counters.factoryCalls++;
    const started = Date.now();
    // The caller gets the value as soon as the factory answers; the L2 write, the bus message and
    // the lock release follow in the background (lock waiters poll L2, so they see the write).
    // A value held (stale, or kept for fail-safe) makes this run a refresh of it for the factory.
    const held = fallback && started < fallback.keepUntil ? fallback : undefined;
    const context: FactoryContext = held
      ? { kind: 'refresh', staleAsOf: held.asOf }
      : { kind: 'miss' };
    const work = observedFactory(factory, key.type, 'miss', stack.stats, context).then((value) => {
      const own = options.ttlOf?.(value);
      const ms = own === undefined ? ttlMs : stack.ttlMsOf(own, key.type);
      // The value's `asOf` is when the factory started: a write made meanwhile is newer (monotonic).
      const { raw, entry } = stack.encode(key, value, ms, Date.now(), undefined, started);
      stack.l1.set(key.storageKey, entry);
      stack.track(stack.persist(key.storageKey, raw, entry).finally(release));
      return entry;
    });
    stack.track(
      work.then(undefined, (e: unknown) => {
        release();
        counters.factoryErrors++;
        stack.log.warn('factory', `cache factory failed: ${errorSummary(e)}`);
      }),
    );
    const hardTimeoutMs = options.hardTimeoutMs ?? this.options.hardTimeoutMs;
    const softTimeoutMs = held ? (options.softTimeoutMs ?? this.options.softTimeoutMs) : undefined;
    const outcome = await raceFactory(work, softTimeoutMs, hardTimeoutMs);
    if (outcome.kind === 'value')
      return { value: outcome.value.value, source: 'factory', asOf: outcome.value.asOf };
    if (held && Date.now() < held.keepUntil) {
      if (outcome.kind === 'soft-timeout') counters.staleHits++;
      else {
        counters.failSafeServed++;
        held.failSafeUntil = Date.now() + this.options.failSafeThrottleMs;
        stack.l1.set(key.storageKey, held);
      }
      return { value: held.value, source: 'stale', asOf: held.asOf };
    }
    if (outcome.kind === 'error')
      throw outcome.error instanceof CacheError
        ? outcome.error
        : new FactoryError(key.storageKey, outcome.error);
    throw new FactoryTimeoutError(key.storageKey, hardTimeoutMs);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
