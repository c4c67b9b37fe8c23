import { isCacheKeyType, type CacheKeyType } from '../keys/cache-key-type.js';
import { globToRegExp } from '../util/glob.js';

/**
 * What one invalidation removes, in stored-key form: some keys; every key of one entity (the
 * escaped second segment of `{type}:{entity}:…`, optionally of one key type); or a SCAN pattern
 * (optionally narrowed by `filter`).
 */
export type InvalidationTarget =
  | { kind: 'keys'; keys: readonly string[] }
  | {
      kind: 'entity';
      /** The entity segment as stored (escaped). */
      entity: string;
      type?: CacheKeyType;
      /** SCAN pattern and exact test of the entity's stored keys (`CacheKeyBuilder.entityMatcher`). */
      pattern: string;
      matches: (storageKey: string) => boolean;
    }
  | { kind: 'pattern'; pattern: string; filter?: (storageKey: string) => boolean };

/** What an invalidation did: `complete` only when L2 and the bus both took it. */
export interface InvalidationResult {
  /** Keys removed from L2. */
  deleted: number;
  /** Entries evicted from this instance's L1 (always done, whatever L2 does). */
  l1Evicted: number;
  /** `done`: L2 answered every command; `failed`: it did not (down, breaker open, errors). */
  l2: 'done' | 'failed';
  /** `sent`: the other instances were told; `failed`: the message could not be sent; `none`: no bus. */
  bus: 'sent' | 'failed' | 'none';
  /** True when L2 and the bus both took it. */
  complete: boolean;
  /** True when it was queued to be replayed (L2 removal and bus message) once the store answers again. */
  queued: boolean;
}

/** The entity of a logical key `{type}:{entity}:…` (escaped, as stored), else `undefined`. */
export function entityTagOf(logicalKey: string): string | undefined {
  const first = logicalKey.indexOf(':');
  if (first <= 0 || !isCacheKeyType(logicalKey.slice(0, first))) return undefined;
  const second = logicalKey.indexOf(':', first + 1);
  return second < 0 ? logicalKey.slice(first + 1) : logicalKey.slice(first + 1, second);
}

/** One id per target (a newer invalidation of the same target replaces a pending one). */
export function targetId(target: InvalidationTarget): string {
  if (target.kind === 'keys') return 'k:' + target.keys.join('\n');
  if (target.kind === 'entity') return `e:${target.type ?? '*'}:${target.entity}`;
  return 'p:' + target.pattern;
}

/** The test of stored keys a target covers. */
export function coverageOf(target: InvalidationTarget): (storageKey: string) => boolean {
  if (target.kind === 'keys') {
    const set = new Set(target.keys);
    return (k) => set.has(k);
  }
  if (target.kind === 'entity') return target.matches;
  const re = globToRegExp(target.pattern);
  const filter = target.filter;
  return (k) => re.test(k) && (!filter || filter(k));
}
