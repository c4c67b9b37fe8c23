import type { CacheKeyBuilder, ResolvedKey } from '../keys/cache-key-builder.js';
import type { CacheKeyType } from '../keys/cache-key-type.js';

/** Most keys remembered by `ResolvedKeys` (the oldest is forgotten first). */
export const REMEMBERED_KEYS = 4096;
/** Longest key remembered; longer ones are resolved on every call (bounds the memory held). */
export const MAX_REMEMBERED_KEY_LENGTH = 256;

/**
 * `CacheKeyBuilder.resolve` for keys outside any namespace, remembered for the most recent keys.
 * A repeated key then costs one map lookup instead of its check (a regular expression), its type
 * lookup and a new stored-key string that the store, the single-flight map and L1 would each
 * flatten and hash again. A bad key is never remembered: it throws on every call.
 */
export class ResolvedKeys {
  private readonly known = new Map<string, ResolvedKey>();

  constructor(
    private readonly keys: CacheKeyBuilder,
    private readonly max = REMEMBERED_KEYS,
  ) {}

  /** As `keys.resolve(key, keyType)`; `field` names the argument in the error for a bad key. */
  resolve(key: string, keyType: CacheKeyType | undefined, field?: string): ResolvedKey {
    let resolved = this.known.get(key);
    if (resolved === undefined) {
      resolved = this.keys.resolve(key, undefined, undefined, field);
      if (key.length <= MAX_REMEMBERED_KEY_LENGTH) {
        if (this.known.size >= this.max)
          this.known.delete(this.known.keys().next().value as string);
        this.known.set(key, resolved);
      }
    }
    return keyType === undefined || keyType === resolved.type
      ? resolved
      : { storageKey: resolved.storageKey, type: keyType };
  }

  /** Keys remembered now. */
  get size(): number {
    return this.known.size;
  }
}
