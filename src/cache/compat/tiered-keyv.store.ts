import { EventEmitter } from 'node:events';
import { Keyv, type DeserializedData, type KeyvStoreAdapter, type StoredData } from 'keyv';
import type { CacheService } from '../cache.service.js';
import { CacheValidationError } from '../errors/cache-errors.js';
import { CacheKeyBuilder } from '../keys/cache-key-builder.js';
import { CACHE_MANAGER_NAMESPACE } from '../constants.js';

/** Options of `createTieredKeyv`. */
export interface TieredKeyvOptions {
  /**
   * Keyv namespace: keys live under `{keyPrefix}:{namespace}:{key}` and `clear()` removes only
   * those. Default `cache_manager`. An empty string puts keys straight under the module prefix,
   * and `clear()` then removes every key of the module (never anything outside its prefix).
   */
  namespace?: string;
  /** Default TTL in milliseconds when a caller gives none. Default: the TTL policy's (300 s for keys with no key type). */
  ttlMs?: number;
}

/**
 * A Keyv 5 storage adapter over the market cache (`CacheService` → `TieredCache`): the L1 memory
 * tier, the shared Redis connection, single encoding and cross-instance L1 invalidation, for code
 * that talks Keyv / cache-manager (`CACHE_MANAGER`, Nest's stock `CacheInterceptor`).
 *
 * Keyv must be built with `serialize: undefined, deserialize: undefined` (use `createTieredKeyv`):
 * values reach the tiered cache as they are and are JSON-encoded once there. Values must be
 * JSON-serializable; values read back are deep-frozen, shared copies.
 *
 * Keys are mapped to logical keys by escaping, per `:`-separated segment, every character a
 * logical key may not carry (`*`, `?`, `[`, `]`, `\`, white space, `%`, a leading `!`): one-to-one,
 * so a URL-shaped key (`/api/x?y=1`) is stored safely and no key can widen a flush.
 */
export class TieredKeyvStore extends EventEmitter implements KeyvStoreAdapter {
  /** Adapter options as Keyv reads them (none: this adapter has no iterator). */
  readonly opts: Record<string, unknown> = {};
  /** Namespace Keyv prefixes keys with (set by Keyv); `clear()` removes only its keys. */
  namespace?: string;

  constructor(private readonly cache: CacheService) {
    super();
  }

  /** The logical cache key a Keyv key is stored under (what `CacheService.lookup` takes). */
  static logicalKeyOf(key: string): string {
    return key
      .split(':')
      .map((segment, i) =>
        i === 0 && segment.startsWith('!')
          ? '%21' + CacheKeyBuilder.escape(segment.slice(1))
          : CacheKeyBuilder.escape(segment),
      )
      .join(':');
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    const logical = TieredKeyvStore.logicalKeyOf(key);
    const hit = await this.cache.lookup<Value>(logical);
    if (!hit.success) return undefined;
    return { value: hit.value, expires: await this.cache.expiresAt(logical) };
  }

  async getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    const logical = keys.map((k) => TieredKeyvStore.logicalKeyOf(k));
    const values = await this.cache.pipelineGet<Value>(logical);
    return Promise.all(
      values.map(async (value, i) =>
        value === undefined
          ? undefined
          : { value, expires: await this.cache.expiresAt(logical[i]) },
      ),
    );
  }

  /** Stores `data.value` for `ttlMs` milliseconds (default: the TTL policy's). */
  async set(key: string, data: unknown, ttlMs?: number): Promise<boolean> {
    if (typeof data !== 'object' || data === null || !('value' in data)) {
      throw new CacheValidationError(
        'value',
        'TieredKeyvStore needs a Keyv built with serialize: undefined, deserialize: undefined (use createTieredKeyv)',
      );
    }
    const { value } = data as DeserializedData<unknown>;
    if (value === undefined) throw new CacheValidationError('value', 'undefined cannot be cached');
    const logical = TieredKeyvStore.logicalKeyOf(key);
    return this.cache.set(logical, value, ttlMs === undefined ? undefined : { ttl: ttlMs / 1000 });
  }

  async delete(key: string): Promise<boolean> {
    return this.cache.delete(TieredKeyvStore.logicalKeyOf(key));
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    const removed = await Promise.all(
      keys.map((k) => this.cache.delete(TieredKeyvStore.logicalKeyOf(k))),
    );
    return removed.every(Boolean);
  }

  async has(key: string): Promise<boolean> {
    return (await this.cache.lookup(TieredKeyvStore.logicalKeyOf(key))).success;
  }

  /**
   * Removes the keys of this store's namespace (SCAN + UNLINK under the module prefix, on every
   * master, and from every instance's L1). Without a namespace, every key of the module. Never
   * FLUSHDB: keys outside the module prefix are never touched.
   */
  async clear(): Promise<void> {
    if (this.namespace)
      await this.cache.flushPattern(`${TieredKeyvStore.logicalKeyOf(this.namespace)}:*`);
    else await this.cache.clear();
  }

  /** A no-op: the Redis connection belongs to `MarketCacheModule`, which closes it on shutdown. */
  async disconnect(): Promise<void> {}
}

/**
 * A Keyv over the market cache, configured for it: no Keyv-side serialization (values are
 * encoded once, by the tiered cache), namespace `cache_manager` unless told otherwise.
 */
export function createTieredKeyv(cache: CacheService, options: TieredKeyvOptions = {}): Keyv {
  return new Keyv({
    store: new TieredKeyvStore(cache),
    namespace: options.namespace ?? CACHE_MANAGER_NAMESPACE,
    ttl: options.ttlMs,
    serialize: undefined,
    deserialize: undefined,
  });
}
