import { EventEmitter } from 'node:events';
import { Keyv, type KeyvOptions, type KeyvStoreAdapter, type StoredData } from 'keyv';
import type { CacheService } from '../cache.service.js';
import { CACHE_MANAGER_NAMESPACE } from '../constants.js';
import { CacheError } from '../errors/cache-errors.js';
import { MARKET_CACHE_DEFAULTS } from '../market-cache.options.js';
import type { CacheStore } from '../stores/cache-store.js';
import { isDigestKey, keyvKeyOf, keyvLogicalKey } from './keyv-keys.js';
import { KeyvExpiries } from './keyv-expiries.js';
import { decodeKeyvRecord, encodeKeyvRecord } from './keyv-values.js';

/** Keys read per batch by the iterator. */
const ITERATOR_BATCH = 100;

/** Options of `TieredKeyvStore`. */
export interface TieredKeyvStoreOptions {
  /**
   * Longest TTL, in milliseconds: a write with no TTL (or TTL 0) gets it, a longer one is cut to
   * it. Default: `maxTtlSeconds` of the module options' defaults (30 days).
   */
  maxTtlMs?: number;
  /**
   * `true`: values read are the cache's shared, deep-frozen copies (no copy per read; mutating
   * one throws). Default `false`: every read answers a fresh, mutable copy, as stock stores do.
   */
  frozenValues?: boolean;
  /** The module's L2 store (`MARKET_CACHE_STORE`): with it the adapter has an iterator (SCAN). */
  store?: CacheStore;
}

/** Options of `createTieredKeyv`. */
export interface TieredKeyvOptions extends TieredKeyvStoreOptions {
  /**
   * Keyv namespace: keys live under `{keyPrefix}:{namespace}:{key}` and `clear()` removes only
   * those. Default `cache_manager`. An empty string puts keys straight under the module prefix,
   * and `clear()` then removes every key of the module (never anything outside its prefix).
   */
  namespace?: string;
  /** Default TTL in milliseconds when a caller gives none. Default: `maxTtlMs` (30 days). */
  ttlMs?: number;
}

/**
 * A Keyv 5 storage adapter over the market cache (`CacheService` → `TieredCache`): the L1 memory
 * tier, the shared Redis connection and cross-instance L1 invalidation, for code that talks Keyv
 * or cache-manager (`CACHE_MANAGER`, Nest's stock `CacheInterceptor`). Works with Keyv however it
 * is built: with a serializer (Keyv's default, or a custom one) the text it makes is stored and
 * given back untouched; with `serialize: undefined` (`createTieredKeyv`) values are encoded once,
 * Buffers included (`keyv-values.ts`). Keys of any length (`keyv-keys.ts`). What differs from
 * stock stores: docs/migrating-from-ioredis-yet.md.
 */
export class TieredKeyvStore extends EventEmitter implements KeyvStoreAdapter {
  /**
   * Adapter options as Keyv reads them. Keyv 5 offers `keyv.iterator()` only over adapters whose
   * `dialect` it lists; this one iterates by SCAN on every driver when given the store.
   */
  readonly opts: { dialect: string; url: string };
  /** Namespace Keyv prefixes keys with (set by Keyv); `clear()` removes only its keys. */
  namespace?: string;
  private readonly maxTtlMs: number;
  private readonly copies: boolean;
  private readonly l2: CacheStore | undefined;
  private readonly expiries = new KeyvExpiries();

  constructor(
    private readonly cache: CacheService,
    options: TieredKeyvStoreOptions = {},
  ) {
    super();
    this.maxTtlMs = options.maxTtlMs ?? MARKET_CACHE_DEFAULTS.maxTtlSeconds * 1000;
    this.copies = options.frozenValues !== true;
    this.l2 = options.store;
    this.opts = { dialect: this.l2 ? 'redis' : 'none', url: '' };
  }

  /**
   * The logical cache key a Keyv key is stored under (what `CacheService.lookup` takes): escaped
   * one-to-one up to 1024 characters, else a digest form under the namespace (`keyvLogicalKey`).
   */
  static logicalKeyOf(key: string, namespace?: string): string {
    return keyvLogicalKey(key, namespace);
  }

  /**
   * The stored record of `key`: the serializer's text, or `{ value, expires }` with the real
   * expiry (epoch ms; remembered for values served from L1, else asked of L2).
   */
  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    const logical = keyvLogicalKey(key, this.namespace);
    const hit = await this.cache.lookup(logical);
    if (!hit.success) return undefined;
    const record = decodeKeyvRecord(hit.value, this.copies);
    if (record.kind === 'serialized') return record.text as StoredData<Value>;
    let expires = hit.source === 'l1' ? this.expiries.recall(logical) : undefined;
    if (expires === undefined) {
      expires = await this.cache.expiresAt(logical);
      this.expiries.remember(logical, expires);
    }
    return { value: record.value as Value, expires };
  }

  /**
   * Records of many keys in one batch (L1 first), in order. `expires` is given where remembered
   * (no round trip per key); the values answered are never past their expiry.
   */
  async getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    const logical = keys.map((k) => keyvLogicalKey(k, this.namespace));
    const values = await this.cache.pipelineGet<unknown>(logical);
    // Array.from, not map: the batch answers misses as holes, which Keyv's `for…in` would skip.
    return Array.from(values, (value, i) => {
      if (value === undefined) return undefined;
      const record = decodeKeyvRecord(value, this.copies);
      if (record.kind === 'serialized') return record.text as StoredData<Value>;
      return { value: record.value as Value, expires: this.expiries.recall(logical[i]) };
    });
  }

  /**
   * Stores what Keyv hands over (its serializer's text, or a `{ value }` record) for `ttlMs`
   * milliseconds: none or 0 means the longest TTL (`maxTtlMs`), a longer one is cut to it. An
   * `undefined` value stores nothing (a later `get` answers `undefined`). A refused write (too
   * large, not serializable, a bad TTL) throws; a write the store could not take answers `false`
   * and emits `error`. Either way the older value under the key is removed (L1, L2 and the other
   * instances' L1), so nothing stale is read after a failed overwrite.
   */
  async set(key: string, data: unknown, ttlMs?: number): Promise<boolean> {
    const logical = keyvLogicalKey(key, this.namespace);
    if (typeof data === 'object' && data !== null && 'value' in data && data.value === undefined) {
      await this.dropOlder(logical);
      return true;
    }
    let stored: boolean;
    try {
      const value = encodeKeyvRecord(
        typeof data === 'string' ? data : (data as { value: unknown }),
        isDigestKey(logical) ? key : undefined,
      );
      const ms =
        ttlMs === undefined || ttlMs === 0 ? this.maxTtlMs : Math.min(ttlMs, this.maxTtlMs);
      const now = Date.now();
      stored = await this.cache.set(logical, value, { ttl: ms / 1000 });
      if (stored) this.expiries.remember(logical, now + ms);
    } catch (e) {
      await this.dropOlder(logical);
      throw e;
    }
    if (!stored) {
      await this.dropOlder(logical);
      this.report(
        new CacheError(
          'CACHE_STORE_UNAVAILABLE',
          'the store did not take the value; the older value under the key was removed',
        ),
      );
    }
    return stored;
  }

  async delete(key: string): Promise<boolean> {
    const logical = keyvLogicalKey(key, this.namespace);
    this.expiries.forget(logical);
    return this.cache.delete(logical);
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    const removed = await Promise.all(keys.map((k) => this.delete(k)));
    return removed.every(Boolean);
  }

  async has(key: string): Promise<boolean> {
    return (await this.cache.lookup(keyvLogicalKey(key, this.namespace))).success;
  }

  /**
   * Removes the keys of this store's namespace (SCAN + UNLINK under the module prefix, on every
   * master, and from every instance's L1), digest-form keys included. Without a namespace, every
   * key of the module. Never FLUSHDB: keys outside the module prefix are never touched.
   */
  async clear(): Promise<void> {
    if (this.namespace) await this.cache.flushPattern(`${keyvLogicalKey(this.namespace)}:*`);
    else await this.cache.clear();
  }

  /**
   * The entries of `namespace` (every key of the module without one) as Keyv's iterator wants
   * them: `[key, what get answers]`. Keys are listed by SCAN (never KEYS), values read in batches;
   * entries that expire meanwhile are skipped. Needs the store (`TieredKeyvStoreOptions.store`).
   */
  async *iterator<Value>(
    namespace?: string,
  ): AsyncGenerator<Array<string | Awaited<Value> | undefined>, void> {
    if (!this.l2) throw new CacheError('CACHE_INVALID_OPTION', 'iterator needs options.store');
    const head = namespace ? `${keyvLogicalKey(namespace)}:` : '';
    const names = this.cache.keys;
    const logical: string[] = [];
    for (const storageKey of await this.l2.keys(names.pattern(`${head}*`))) {
      const key = names.logicalKeyOf(storageKey);
      if (key !== undefined) logical.push(key);
    }
    for (let i = 0; i < logical.length; i += ITERATOR_BATCH) {
      const batch = logical.slice(i, i + ITERATOR_BATCH);
      const values = await this.cache.pipelineGet<unknown>(batch);
      for (let j = 0; j < batch.length; j++) {
        if (values[j] === undefined) continue;
        const record = decodeKeyvRecord(values[j], this.copies);
        const key = record.key ?? keyvKeyOf(batch[j]);
        const raw = record.kind === 'serialized' ? record.text : { value: record.value };
        // Keyv's declared element type is loose: it reads the second item as what `get` answers.
        yield [key, raw as Awaited<Value>];
      }
    }
  }

  /** A no-op: the Redis connection belongs to `MarketCacheModule`, which closes it on shutdown. */
  async disconnect(): Promise<void> {}

  /** Removes the value under `logical` everywhere (L1, L2, other instances' L1), after a write failed. */
  private async dropOlder(logical: string): Promise<void> {
    this.expiries.forget(logical);
    try {
      await this.cache.delete(logical);
    } catch (e) {
      // Only a key no value can be stored under (e.g. empty) gets here: there is nothing to drop.
      this.report(e);
    }
  }

  /** Emits `error` to Keyv (which re-emits it to its listeners); never throws for want of a listener. */
  private report(error: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}

/**
 * The Keyv options `createTieredKeyv` builds a Keyv with over `store`: no Keyv-side serialization
 * (values are encoded once, by the tiered cache), refused writes rejected (`throwOnErrors`),
 * namespace `cache_manager` unless told otherwise, default TTL `ttlMs`.
 */
export function tieredKeyvOptions(
  store: KeyvStoreAdapter,
  options: Pick<TieredKeyvOptions, 'namespace' | 'ttlMs'> = {},
): KeyvOptions {
  return {
    store,
    namespace: options.namespace ?? CACHE_MANAGER_NAMESPACE,
    ttl: options.ttlMs,
    serialize: undefined,
    deserialize: undefined,
    throwOnErrors: true,
  };
}

/** A Keyv over the market cache, configured for it (see `tieredKeyvOptions`). */
export function createTieredKeyv(cache: CacheService, options: TieredKeyvOptions = {}): Keyv {
  const { namespace, ttlMs, ...store } = options;
  return new Keyv(tieredKeyvOptions(new TieredKeyvStore(cache, store), { namespace, ttlMs }));
}
