import { CacheService } from '../cache.service.js';
import { CacheValidationError } from '../errors/cache-errors.js';
import { CacheKeyBuilder } from '../keys/cache-key-builder.js';
import type { CacheKeyType } from '../keys/cache-key-type.js';
import type { TtlInput } from '../keys/ttl.js';
import { TieredCache } from '../tiered/tiered-cache.js';

/** A key: a template (`'product:{0}'`, `'quote:{ticker}'`) or a function of the method's arguments. */
export type CacheKeySpec = string | ((...args: never[]) => string);

/** Options of `@Cacheable`. */
export interface CacheableOptions {
  /** Key template or function; `{0}` is the first argument, `{name}` the argument of that name. */
  key: CacheKeySpec;
  /** Key type (TTL and stats); the key is prefixed with `{keyType}:` unless it already starts with it. */
  keyType?: CacheKeyType;
  /** TTL: seconds, a duration string (`'5m'`) or a `Date`. Default: the key type's TTL. */
  ttl?: TtlInput;
  /** Namespace, cleared at once by `@CacheEvict({ namespace })` or `CacheService.clear(namespace)`. */
  namespace?: string;
}

/** Options of `@CacheEvict`: a key (as in `@Cacheable`) and/or a namespace to clear after the method succeeds. */
export interface CacheEvictOptions {
  key?: CacheKeySpec;
  keyType?: CacheKeyType;
  namespace?: string;
}

/** A cache the decorators can use: the module's `CacheService`, or a `TieredCache` itself. */
export type DecoratorCache = CacheService | TieredCache;

let defaultCache: DecoratorCache | undefined;

/**
 * Sets the cache decorators use when the instance holds none (done by `MarketCacheModule` at
 * start-up). With `onlyIf`, changes it only while `onlyIf` is the current default (shutdown).
 */
export function setDefaultDecoratorCache(
  cache: DecoratorCache | undefined,
  onlyIf?: DecoratorCache,
): void {
  if (onlyIf === undefined || defaultCache === onlyIf) defaultCache = cache;
}

/**
 * The cache a decorated method uses: a `CacheService` or `TieredCache` injected into the
 * instance (the first own field holding one), else the module's default.
 */
function cacheOf(instance: object): DecoratorCache | undefined {
  for (const value of Object.values(instance))
    if (value instanceof CacheService || value instanceof TieredCache) return value;
  return defaultCache;
}

/** Clears a namespace through whichever cache the instance holds. */
function clearNamespace(cache: DecoratorCache, namespace: string): Promise<void> {
  return cache instanceof TieredCache ? cache.clearNamespace(namespace) : cache.clear(namespace);
}

type AsyncMethod = (...args: unknown[]) => Promise<unknown>;

/**
 * Caches the result of an async method under a key built from its arguments (read-through via
 * `getOrSet`: single-flight, distributed lock, SWR and fail-safe apply). `this` is kept; a thrown
 * error is never cached. Argument values are escaped before they enter the key.
 */
export function Cacheable(options: CacheableOptions): MethodDecorator {
  if (!options || (typeof options.key !== 'string' && typeof options.key !== 'function')) {
    throw new CacheValidationError('key', '@Cacheable needs a key template or function');
  }
  return (_target, propertyKey, descriptor) => {
    const original = descriptor.value as unknown as AsyncMethod;
    if (typeof original !== 'function')
      throw new CacheValidationError(
        'key',
        `@Cacheable on '${String(propertyKey)}' must decorate a method`,
      );
    const names = parameterNames(original);
    const wrapped: AsyncMethod = async function (this: object, ...args: unknown[]) {
      const cache = cacheOf(this);
      if (!cache) return original.apply(this, args);
      const key = renderKey(options.key, options.keyType, args, names);
      return cache.getOrSet(key, () => original.apply(this, args), {
        ttl: options.ttl,
        keyType: options.keyType,
        namespace: options.namespace,
      });
    };
    (descriptor as TypedPropertyDescriptor<unknown>).value = wrapped;
    return descriptor;
  };
}

/** Removes a key and/or clears a namespace after the method succeeds (not when it throws). */
export function CacheEvict(options: CacheEvictOptions): MethodDecorator {
  if (!options || (options.key === undefined && options.namespace === undefined)) {
    throw new CacheValidationError('key', '@CacheEvict needs a key or a namespace');
  }
  return (_target, propertyKey, descriptor) => {
    const original = descriptor.value as unknown as AsyncMethod;
    if (typeof original !== 'function')
      throw new CacheValidationError(
        'key',
        `@CacheEvict on '${String(propertyKey)}' must decorate a method`,
      );
    const names = parameterNames(original);
    const wrapped: AsyncMethod = async function (this: object, ...args: unknown[]) {
      const result = await original.apply(this, args);
      const cache = cacheOf(this);
      if (cache) {
        if (options.key !== undefined)
          await cache.delete(renderKey(options.key, options.keyType, args, names), {
            namespace: options.namespace,
          });
        else if (options.namespace !== undefined) await clearNamespace(cache, options.namespace);
      }
      return result;
    };
    (descriptor as TypedPropertyDescriptor<unknown>).value = wrapped;
    return descriptor;
  };
}

/** Renders a key spec with escaped arguments, prefixing the key type when given. */
export function renderKey(
  spec: CacheKeySpec,
  keyType: CacheKeyType | undefined,
  args: unknown[],
  names: string[],
): string {
  let key: string;
  if (typeof spec === 'function') {
    key = (spec as (...a: unknown[]) => string)(...args);
  } else {
    key = spec.replace(/\{([A-Za-z_$][\w$]*|\d+)\}/g, (_, ref: string) => {
      const index = /^\d+$/.test(ref) ? Number(ref) : names.indexOf(ref);
      if (index < 0 || index >= args.length)
        throw new CacheValidationError(
          'key',
          `key template refers to '{${ref}}', which is not an argument`,
        );
      const value = args[index];
      return CacheKeyBuilder.escape(
        typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value),
      );
    });
  }
  return keyType && !key.startsWith(`${keyType}:`) ? `${keyType}:${key}` : key;
}

/** Parameter names of a function, read from its source (plain parameters; defaults are trimmed). */
function parameterNames(fn: (...args: never[]) => unknown): string[] {
  const source = Function.prototype.toString.call(fn);
  const open = source.indexOf('(');
  const close = source.indexOf(')', open);
  if (open < 0 || close < 0) return [];
  return source
    .slice(open + 1, close)
    .split(',')
    .map((p) =>
      p
        .replace(/\/\*.*?\*\//g, '')
        .split('=')[0]
        .replace(/^\.\.\./, '')
        .trim(),
    )
    .filter(Boolean);
}
