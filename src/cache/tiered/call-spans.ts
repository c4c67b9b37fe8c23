import type { Attributes, Span, Tracer } from '@opentelemetry/api';
import type { CacheKeyBuilder } from '../keys/cache-key-builder.js';
import type { CacheKeyType } from '../keys/cache-key-type.js';
import type { CacheStore } from '../stores/cache-store.js';
import type { InvalidationResult, InvalidationTarget } from './invalidation-target.js';
import type { Resolved } from './tiered-cache.options.js';
import { CacheAttr, CacheSpan, markFound, markSource, markStored, traced } from './tracing.js';

/**
 * The root span of each public call of `TieredCache` (`market-cache.getOrSet`, `.get`, `.set`,
 * `.getMany`, `.setMany`, `.delete`, `.flush`): its attributes at the start (operation, key type,
 * store) and from the result (tier, outcome, counts). `TieredCache` asks for one only when
 * `callTracer()` gives a tracer, and passes the untraced call as `run`.
 */
export class CallSpans {
  constructor(
    private readonly keys: CacheKeyBuilder,
    private readonly store: CacheStore['kind'],
  ) {}

  /** `getOrSet` / `getOrSetResult`: tier, hit and outcome from where the value came from. */
  getOrSet<T>(
    tracer: Tracer,
    key: unknown,
    keyType: CacheKeyType | undefined,
    run: () => Promise<Resolved<T>>,
  ): Promise<Resolved<T>> {
    const attributes = this.attributes('getOrSet', this.typeOf(key, keyType));
    return traced(tracer, CacheSpan.getOrSet, attributes, run, (span, r) =>
      markSource(span, r.source),
    );
  }

  /** `get`: as `getOrSet`, or `miss` when nothing was found. */
  get<T>(
    tracer: Tracer,
    key: unknown,
    keyType: CacheKeyType | undefined,
    run: () => Promise<Resolved<T> | undefined>,
  ): Promise<Resolved<T> | undefined> {
    const attributes = this.attributes('get', this.typeOf(key, keyType));
    return traced(tracer, CacheSpan.get, attributes, run, (span, r) =>
      r === undefined ? markFound(span, false) : markSource(span, r.source),
    );
  }

  /** `set`: `ok` when L2 stored the value, else `not_stored`. */
  set(
    tracer: Tracer,
    key: unknown,
    keyType: CacheKeyType | undefined,
    run: () => Promise<boolean>,
  ): Promise<boolean> {
    const attributes = this.attributes('set', this.typeOf(key, keyType));
    return traced(tracer, CacheSpan.set, attributes, run, markStored);
  }

  /** `getMany`: the batch size, how many were found, and `hit` / `partial` / `miss`. */
  getMany<T>(
    tracer: Tracer,
    keys: unknown,
    keyType: CacheKeyType | undefined,
    run: () => Promise<(T | undefined)[]>,
  ): Promise<(T | undefined)[]> {
    const attributes = this.batchAttributes('getMany', keys, keyType, (key) => key);
    return traced(tracer, CacheSpan.getMany, attributes, run, markBatch);
  }

  /** `setMany`: the batch size, and `ok` / `not_stored`. */
  setMany(tracer: Tracer, entries: unknown, run: () => Promise<boolean>): Promise<boolean> {
    const attributes = this.batchAttributes('setMany', entries, undefined, keyOfEntry);
    return traced(tracer, CacheSpan.setMany, attributes, run, markStored);
  }

  /** An invalidation (`delete` for keys, else `flush`): what it covers, keys removed from L2, `ok` or `incomplete`. */
  invalidate(
    tracer: Tracer,
    target: InvalidationTarget,
    run: () => Promise<InvalidationResult>,
  ): Promise<InvalidationResult> {
    const keys = target.kind === 'keys';
    const attributes = {
      ...this.attributes(keys ? 'delete' : 'flush', this.typeOfTarget(target)),
      [CacheAttr.flushKind]: target.kind,
    };
    return traced(tracer, keys ? CacheSpan.delete : CacheSpan.flush, attributes, run, (span, r) =>
      span.setAttributes({
        [CacheAttr.flushDeleted]: r.deleted,
        [CacheAttr.outcome]: r.complete ? 'ok' : 'incomplete',
      }),
    );
  }

  /** A flush of a namespace or of every key (`removed`: keys removed from L2, when known). */
  flush<T extends number | void>(
    tracer: Tracer,
    kind: 'namespace' | 'all',
    run: () => Promise<T>,
  ): Promise<T> {
    const attributes = { ...this.attributes('flush', 'mixed'), [CacheAttr.flushKind]: kind };
    return traced(tracer, CacheSpan.flush, attributes, run, (span, removed) => {
      if (typeof removed === 'number') span.setAttribute(CacheAttr.flushDeleted, removed);
      span.setAttribute(CacheAttr.outcome, 'ok');
    });
  }

  private attributes(operation: string, keyType: string): Attributes {
    return {
      [CacheAttr.operation]: operation,
      [CacheAttr.keyType]: keyType,
      [CacheAttr.store]: this.store,
    };
  }

  /** The key type label of a key: the call's `keyType`, else the key's first segment when it is a key type, else `other`. */
  private typeOf(key: unknown, keyType: CacheKeyType | undefined): string {
    return keyType ?? (typeof key === 'string' ? this.keys.typeOf(key) : undefined) ?? 'other';
  }

  /** A batch's attributes: its size and the one key type its keys share (`mixed` when several). */
  private batchAttributes(
    operation: string,
    batch: unknown,
    keyType: CacheKeyType | undefined,
    keyOf: (item: unknown) => unknown,
  ): Attributes {
    const items: readonly unknown[] = Array.isArray(batch) ? batch : [];
    const types = new Set(items.map((item) => this.typeOf(keyOf(item), keyType)));
    const [only] = types;
    const label = types.size > 1 ? 'mixed' : (only ?? keyType ?? 'other');
    return { ...this.attributes(operation, label), [CacheAttr.batchSize]: items.length };
  }

  /** The key type an invalidation covers, where its keys or pattern tell; else `mixed`. */
  private typeOfTarget(target: InvalidationTarget): string {
    if (target.kind === 'entity') return target.type ?? 'mixed';
    const stored = target.kind === 'pattern' ? [target.pattern] : target.keys;
    const types = new Set(stored.map((k) => this.keys.typeOf(this.keys.logicalKeyOf(k) ?? '')));
    const [only] = types;
    return types.size === 1 && only !== undefined ? only : 'mixed';
  }
}

/** The key of a batch entry (for its key type label). */
function keyOfEntry(entry: unknown): unknown {
  return (entry as { key?: unknown } | null | undefined)?.key;
}

/** Sets the outcome of a batch read from its values: `hit` (all found), `miss` (none) or `partial`. */
function markBatch(span: Span, values: readonly unknown[]): void {
  let hits = 0;
  for (const v of values) if (v !== undefined) hits++;
  span.setAttributes({
    [CacheAttr.batchHits]: hits,
    [CacheAttr.hit]: hits > 0,
    [CacheAttr.outcome]: hits === values.length ? 'hit' : hits === 0 ? 'miss' : 'partial',
  });
}
