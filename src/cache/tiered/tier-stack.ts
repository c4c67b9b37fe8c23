import {
  CacheValidationError,
  SerializationError,
  ValueTooLargeError,
} from '../errors/cache-errors.js';
import type { CacheKeyBuilder, ResolvedKey } from '../keys/cache-key-builder.js';
import type { CacheKeyType } from '../keys/cache-key-type.js';
import type { CacheTTLPolicy } from '../keys/cache-ttl-policy.js';
import { ttlToMs, type TtlInput } from '../keys/ttl.js';
import type { CacheStore } from '../stores/cache-store.js';
import { BackgroundTasks } from '../util/background-tasks.js';
import { RateLimitedLogger, errorSummary } from '../util/rate-limited-logger.js';
import {
  MAX_VALUE_DEPTH,
  encodeEntry,
  entryOf,
  readEntry,
  readEnvelope,
  type CacheEntry,
  type Envelope,
} from './cache-entry.js';
import { CacheStats, type CacheSource, type TieredStatsView } from './cache-stats.js';
import type { BusMessage, InvalidationBus } from './invalidation-bus.js';
import { Invalidator } from './invalidator.js';
import { L1Cache } from './l1-cache.js';
import type { TieredCacheOptions } from './tiered-cache.options.js';
import { CacheAttr, CacheSpan, activeTracer, markStored, traced } from './tracing.js';

/** A value ready to store: its resolved key, stored text and decoded entry (from `encode`). */
export interface EncodedEntry {
  key: ResolvedKey;
  raw: string;
  entry: CacheEntry;
}

/**
 * The plumbing under `TieredCache`: the L1 memory tier, the L2 store, the counters and the
 * invalidation bus, and the entry codec between them (encode, persist, read, batches). It takes
 * keys already resolved; the decisions of the read path live in `get-or-set.ts`.
 */
export class TierStack {
  /** Hit, miss, stale and factory counters per key type. */
  readonly stats = new CacheStats();
  /** The in-process tier. */
  readonly l1: L1Cache;
  /** The source reported for values read from L2 (`file` for the file store). */
  readonly l2Source: CacheSource;
  /** Rate-limited warnings of the tiered cache. */
  readonly log = new RateLimitedLogger('TieredCache');
  /** Invalidations that say what they did, with the replay of those L2 or the bus did not take. */
  readonly invalidator: Invalidator;
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
    this.l2Source = store.kind === 'file' ? 'file' : 'l2';
    this.invalidator = new Invalidator({
      store,
      l1: this.l1,
      log: this.log,
      publish: (m) => this.publishChecked(m),
    });
  }

  /** Attaches the invalidation bus. */
  attachBus(bus: InvalidationBus): void {
    this.bus = bus;
  }

  /** Detaches and stops the bus (and the invalidation replay timer). */
  async detachBus(): Promise<void> {
    this.invalidator.stop();
    const bus = this.bus;
    this.bus = undefined;
    await bus?.stop();
  }

  /** True while the invalidation bus is connected (always true without a bus). */
  get busConnected(): boolean {
    return this.bus ? this.bus.connected : true;
  }

  /** Tells the other instances (no-op without a bus). */
  publish(message: BusMessage): Promise<unknown> | undefined {
    return this.bus?.publish(message);
  }

  /** Tells the other instances: `sent`, `failed` (not sent), or `none` without a bus. */
  async publishChecked(message: BusMessage): Promise<'sent' | 'failed' | 'none'> {
    if (!this.bus) return 'none';
    return (await this.bus.publish(message)) ? 'sent' : 'failed';
  }

  /** The TTL in ms for a call: its own `ttl`, else the key type's policy TTL (with jitter). */
  ttlMsOf(ttl: TtlInput | undefined, type: CacheKeyType | undefined): number {
    return ttl === undefined ? this.policy.ttlMsFor(type) : ttlToMs(ttl);
  }

  /**
   * The stored text of a value and its frozen decoded entry; refuses values over `maxValueBytes`,
   * nested deeper than `MAX_VALUE_DEPTH` or carrying a `__proto__` key. The text is decoded once
   * (the copy L1 keeps, exactly what a reader of L2 gets): that decode is also the depth check.
   * The timeline starts at `now`; `asOf` (default `now`) is when the source produced the value.
   */
  encode<T>(
    key: ResolvedKey,
    value: T,
    ttlMs: number,
    now: number,
    maxStalenessSeconds?: number,
    asOf = now,
  ): { raw: string; entry: CacheEntry<T> } {
    const expiresAt = now + ttlMs;
    const staleAt = expiresAt - (ttlMs * this.options.swrPercent) / 100;
    const stalenessSeconds = maxStalenessSeconds ?? this.policy.maxStalenessFor(key.type);
    const keepUntil = expiresAt + stalenessSeconds * 1000;
    const raw = encodeEntry(value, asOf, staleAt, expiresAt, keepUntil);
    if (raw.length > this.options.maxValueBytes)
      throw new ValueTooLargeError(key.storageKey, raw.length, this.options.maxValueBytes);
    const entry = readEntry<T>(raw, key.type);
    if (entry === 'depth')
      throw new SerializationError(
        `value is nested deeper than ${MAX_VALUE_DEPTH} levels of objects and arrays`,
      );
    if (typeof entry === 'string')
      throw new CacheValidationError(
        'value',
        'value cannot be cached: it carries a "__proto__" key',
      );
    return { raw, entry };
  }

  /**
   * Stores a value produced at `asOf` (default `now`): L1 (a frozen decoded copy) and L2, then
   * tells the other instances. Monotonic (see `persist`): `stored` is false only when L2 failed.
   */
  async write<T>(
    key: ResolvedKey,
    value: T,
    ttlMs: number,
    now: number,
    asOf = now,
  ): Promise<{ entry: CacheEntry<T>; stored: boolean }> {
    const { raw, entry } = this.encode(key, value, ttlMs, now, undefined, asOf);
    this.l1.set(key.storageKey, entry, now);
    return { entry, stored: await this.persist(key.storageKey, raw, entry) };
  }

  /**
   * Writes an encoded entry to L2 (TTL: until `keepUntil`), monotonic on its `asOf`, and evicts
   * older copies from the other instances' L1; a `market-cache.write` span (child of the active
   * span) when tracing is on. When L2 keeps a newer entry, this L1 drops the older value (the next
   * read fetches the newer one). `false` only when L2 could not take the write.
   */
  persist(storageKey: string, raw: string, entry: CacheEntry): Promise<boolean> {
    const tracer = activeTracer();
    if (tracer === undefined) return this.persistNow(storageKey, raw, entry);
    const attributes = {
      [CacheAttr.operation]: 'write',
      [CacheAttr.keyType]: entry.keyType ?? 'other',
      [CacheAttr.tier]: 'l2',
      [CacheAttr.store]: this.store.kind,
    };
    const write = () => this.persistNow(storageKey, raw, entry);
    return traced(tracer, CacheSpan.write, attributes, write, markStored);
  }

  /** `persist` without a span. */
  private async persistNow(storageKey: string, raw: string, entry: CacheEntry): Promise<boolean> {
    const ttlMs = Math.max(1, entry.keepUntil - Date.now());
    const outcome = await this.store.set(storageKey, raw, ttlMs, { asOf: entry.asOf });
    if (outcome === 'kept-newer') {
      this.stats.of(entry.keyType).keptNewer++;
      this.l1.evictOlder(storageKey, entry.asOf, true);
    }
    await this.publish({ kind: 'keys', keys: [storageKey], asOf: [entry.asOf] });
    return outcome !== 'failed';
  }

  /** Failed L2 calls since start (the read path compares it around a read to see a failure). */
  l2Errors(): number {
    const { store } = this;
    return store.errorCount ? store.errorCount() : store.getStats().errors;
  }

  /** Reads and decodes an L2 entry; a corrupt one is counted, deleted and answered as a miss. */
  async readL2<T>(key: ResolvedKey): Promise<CacheEntry<T> | undefined> {
    const raw = await this.store.get(key.storageKey);
    if (raw === undefined) return undefined;
    const env = this.decodeL2<T>(key, raw);
    if (env === null) await this.store.delete(key.storageKey);
    return env ? entryOf(env, raw.length, key.type) : undefined;
  }

  /**
   * Decodes text read from L2 under `key` (no `CacheEntry` is built: see `keepInL1`): the checked
   * envelope; `undefined` when a pending invalidation hides it (invalidated here while L2 could
   * not take it: not served until the replay removed it); `null` when corrupt: counted and logged
   * here, and the caller deletes the key.
   */
  decodeL2<T>(key: ResolvedKey, raw: string): Envelope<T> | undefined | null {
    const env = readEnvelope<T>(raw);
    if (typeof env === 'string') {
      this.stats.of(key.type).corrupt++;
      this.log.warn(
        'corrupt',
        'a cached value could not be decoded; it was deleted and counted as a miss',
      );
      return null;
    }
    return this.invalidator.hides(key.storageKey, env.a) ? undefined : env;
  }

  /**
   * Copies a value read from L2 (`size` characters of text) into L1 when L1 keeps values of its
   * size, else drops any older L1 entry of the key; the `CacheEntry` is built only when kept.
   */
  keepInL1<T>(key: ResolvedKey, env: Envelope<T>, size: number, now: number): void {
    if (this.l1.fits(size)) this.l1.set(key.storageKey, entryOf(env, size, key.type), now);
    else this.l1.delete(key.storageKey);
  }

  /**
   * Values of many keys (L1 first, the rest in one L2 batch), in order; `undefined` for misses and
   * expired values. `keyType`, when given, is the type every key is counted under.
   */
  async readMany<T>(
    keys: readonly ResolvedKey[],
    keyType: CacheKeyType | undefined,
  ): Promise<(T | undefined)[]> {
    const now = Date.now();
    const n = keys.length;
    const out = new Array<T | undefined>(n);
    const { l1, stats } = this;
    const given = keyType === undefined ? undefined : stats.of(keyType);
    // Step 1: L1, up to each entry's expiry (counted under the entry's own type unless one is given).
    // An empty L1 (e.g. a cold instance, or L1 off) costs one counter per key and no lookups.
    const missing: number[] = [];
    const storageKeys: string[] = [];
    const empty = l1.size === 0;
    let seen: CacheKeyType | undefined | null = null;
    let ofSeen = stats.of(undefined);
    for (let i = 0; i < n; i++) {
      const key = keys[i];
      const hit = empty ? undefined : l1.get(key.storageKey);
      const type = hit?.keyType ?? key.type;
      if (type !== seen) ofSeen = stats.of((seen = type));
      const counters = given ?? ofSeen;
      if (hit !== undefined && now < hit.expiresAt) {
        counters.l1Hits++;
        out[i] = hit.value as T;
      } else {
        counters.l1Misses++;
        missing.push(i);
        storageKeys.push(key.storageKey);
      }
    }
    if (missing.length === 0) return out;
    // Step 2: the rest in one L2 batch; corrupt values are counted, then deleted.
    const raws = await this.store.pipelineGet(storageKeys);
    const read = Date.now();
    let corrupt: string[] | undefined;
    // Keys of a batch are mostly of one type: its counters are looked up once per run of it.
    let type: CacheKeyType | undefined | null = null;
    let counters = ofSeen;
    for (let j = 0; j < missing.length; j++) {
      const i = missing[j];
      const key = keys[i];
      const raw = raws[j];
      const env = raw === undefined ? undefined : this.decodeL2<T>(key, raw);
      if (env === null) (corrupt ??= []).push(key.storageKey);
      if (key.type !== type) counters = stats.of((type = key.type));
      if (env && read < env.e) {
        counters.l2Hits++;
        this.keepInL1(key, env, (raw as string).length, read);
        out[i] = env.v;
      } else counters.l2Misses++;
    }
    if (corrupt) for (const k of corrupt) await this.store.delete(k);
    return out;
  }

  /**
   * Stores encoded values made at `now`: L1, then one L2 batch (each entry monotonic on its
   * `asOf`, as `persist`), then one bus message for all. `false` when any could not be stored.
   */
  async writeMany(encoded: readonly EncodedEntry[], now: number): Promise<boolean> {
    for (const e of encoded) this.l1.set(e.key.storageKey, e.entry, now);
    const outcomes = await this.store.pipelineSet(
      encoded.map((e) => ({
        key: e.key.storageKey,
        value: e.raw,
        ttlMs: e.entry.keepUntil - now,
        asOf: e.entry.asOf,
      })),
      { outcomes: true },
    );
    outcomes.forEach((outcome, i) => {
      if (outcome !== 'kept-newer') return;
      const { key, entry } = encoded[i];
      this.stats.of(entry.keyType).keptNewer++;
      this.l1.evictOlder(key.storageKey, entry.asOf, true);
    });
    if (encoded.length)
      await this.publish({
        kind: 'keys',
        keys: encoded.map((e) => e.key.storageKey),
        asOf: encoded.map((e) => e.entry.asOf),
      });
    return !outcomes.includes('failed');
  }

  /** Statistics: total and per key type, with L1 size and bytes and L2 store errors. */
  statsView(): { total: TieredStatsView; byKeyType: Record<string, TieredStatsView> } {
    const view = this.stats.view({
      size: this.l1.size,
      bytes: this.l1.bytes,
      maxBytes: this.options.l1.maxBytes,
    });
    view.total.l2.errors = this.store.getStats().errors;
    return view;
  }

  /** Keeps background work (late factory results, refreshes) until it settles; failures are logged. */
  track(p: Promise<unknown>): void {
    this.background.track(p);
  }

  /** Waits for every tracked background promise. */
  async drain(): Promise<void> {
    await this.background.drain();
  }
}
