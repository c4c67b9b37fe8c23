/*
 * OpenTelemetry spans of the tiered cache, through `@opentelemetry/api` only: without an SDK
 * registered no span, closure or attribute object is made; a call costs one check of the global
 * tracer provider, and an L1 hit of `getOrSet` (`hotCallTracer`) one module variable while no
 * OpenTelemetry global was ever registered in the process. Spans carry the operation, key type, tier, outcome and duration; never
 * a key, a pattern, a namespace, a value or an error message (messages can quote keys).
 */
import {
  context,
  createContextKey,
  ProxyTracerProvider,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { performance } from 'node:perf_hooks';
import { CacheError } from '../errors/cache-errors.js';
import type { CacheSource } from './cache-stats.js';

/** Name of the tracer the cache's spans come from (the instrumentation scope). */
export const TRACER_NAME = 'market-cache';
/** Version of the instrumentation scope: the package version. */
export const TRACER_VERSION = '0.1.0';
// Major version of `@opentelemetry/api` (its globals are shared per major version).
const TRACER_API_MAJOR = 1;

/** Names of the spans the cache starts. */
export const CacheSpan = {
  getOrSet: 'market-cache.getOrSet',
  get: 'market-cache.get',
  set: 'market-cache.set',
  getMany: 'market-cache.getMany',
  setMany: 'market-cache.setMany',
  delete: 'market-cache.delete',
  flush: 'market-cache.flush',
  /** Child of `getOrSet`/`get`: the L2 read after an L1 miss. */
  lookup: 'market-cache.lookup',
  /** Child of `getOrSet`: one factory run (on a miss, or a background refresh). */
  factory: 'market-cache.factory',
  /** Child of `getOrSet`/`set`: the L2 write of one value (and its bus message). */
  write: 'market-cache.write',
} as const;

/** Attribute names of the cache's spans (OpenTelemetry semantic-convention style). */
export const CacheAttr = {
  /** `getOrSet`, `get`, `set`, `getMany`, `setMany`, `delete`, `flush`, `lookup`, `factory`, `write`. */
  operation: 'cache.operation',
  /** The key type (`stock_price`, …): the key's first segment or the call's `keyType`; `other`, or `mixed` for a batch of several. */
  keyType: 'cache.key_type',
  /** Where the answer came from: `l1`, `l2`, `factory` or `stale`. */
  tier: 'cache.tier',
  /** `hit`, `miss`, `stale`, `partial` (batch), `ok`, `not_stored`, `incomplete` (flush), `error`. */
  outcome: 'cache.outcome',
  /** Whether the value was served from the cache (fresh or stale) rather than the factory. */
  hit: 'cache.hit',
  /** Wall time of the operation, in milliseconds. */
  durationMs: 'cache.duration_ms',
  /** The L2 store: `redis`, `memory` or `file`. */
  store: 'cache.store',
  /** Keys in a batch call. */
  batchSize: 'cache.batch.size',
  /** Keys of a batch read that were found. */
  batchHits: 'cache.batch.hits',
  /** What a flush covers: `keys`, `entity`, `pattern`, `namespace` or `all`. */
  flushKind: 'cache.flush.kind',
  /** Keys a flush removed from L2. */
  flushDeleted: 'cache.flush.deleted',
  /** Why a factory ran: `miss` or `refresh`. */
  factoryKind: 'cache.factory.kind',
  /** Type of a failure: the `CacheError` code, else the error's class name (never its message). */
  errorType: 'error.type',
} as const;

/** The tier attribute of a source (`file` is the L2 of the file store). */
export function tierOf(source: CacheSource): 'l1' | 'l2' | 'factory' | 'stale' {
  return source === 'file' ? 'l2' : source;
}

// The API's no-op provider: a proxy's delegate before an SDK sets one.
const NOOP_PROVIDER: TracerProvider = new ProxyTracerProvider().getDelegate();
let seenProvider: TracerProvider | undefined;
let seenTracer: Tracer | undefined;
// Where the API keeps its globals (tracer provider, context manager, …) across copies of it. It is
// made by the first registration of any of them and stays (unregistering deletes only entries).
const API_GLOBALS = Symbol.for(`opentelemetry.js.api.${TRACER_API_MAJOR}`);
let apiGlobals: unknown;
// L1 hits skipped by `hotCallTracer` since its last full check.
let hotSkips = 0;

/** How many L1 hits in a row may skip the full check while no OpenTelemetry global exists. */
export const HOT_RECHECK_CALLS = 4096;

/**
 * The tracer for the cache's spans, or `undefined` while no SDK is registered (the API's no-op
 * default, as `trace.getTracerProvider()` answers it): a read of the API's global, a delegate and
 * an identity test, so paths call it once per call and take their untraced path on `undefined`.
 */
export function activeTracer(): Tracer | undefined {
  apiGlobals ??= (globalThis as Record<symbol, unknown>)[API_GLOBALS];
  const global = trace.getTracerProvider();
  const provider = (global as Partial<ProxyTracerProvider>).getDelegate?.() ?? global;
  if (provider === NOOP_PROVIDER) return undefined;
  if (provider !== seenProvider) {
    seenTracer = provider.getTracer(TRACER_NAME, TRACER_VERSION);
    seenProvider = provider;
  }
  return seenTracer;
}

// Set in the context of a call's own span: the public methods a call runs internally (`getOrSet`
// → `getOrSetResult`, `delete` → `invalidate`) then start no second span. A factory's context
// drops it, so the cache calls a factory makes get spans of their own (under the factory's).
const IN_CALL = createContextKey('market-cache.in-call');

/**
 * `activeTracer()` for a public call's own span: `undefined` also inside another call's span of
 * this cache (a call the cache makes internally), so each public call is one root span.
 */
export function callTracer(): Tracer | undefined {
  const tracer = activeTracer();
  return tracer === undefined || context.active().getValue(IN_CALL) === true ? undefined : tracer;
}

/**
 * `callTracer()` for the L1-hit path of `getOrSet`: while no OpenTelemetry global was ever
 * registered in this process, one module variable read, with the full check every
 * `HOT_RECHECK_CALLS` calls; every other call (an L1 miss, `getOrSetResult`, `get`, `set`, a
 * batch, a flush) checks in full. So an SDK registered after the cache took traffic is seen by the
 * next such call, and by L1 hits within `HOT_RECHECK_CALLS` calls; once any OpenTelemetry global
 * exists, every call checks in full.
 */
export function hotCallTracer(): Tracer | undefined {
  if (apiGlobals === undefined && ++hotSkips < HOT_RECHECK_CALLS) return undefined;
  hotSkips = 0;
  return callTracer();
}

/** The `error.type` of a failure: a `CacheError`'s code, else its class name. */
function errorTypeOf(error: unknown): string {
  if (error instanceof CacheError) return error.code;
  return error instanceof Error ? error.name : typeof error;
}

/** Ends `span` with its duration since `startedMs` (`performance.now()`). */
function end(span: Span, startedMs: number): void {
  span.setAttribute(CacheAttr.durationMs, performance.now() - startedMs);
  span.end();
}

/** Marks `span` failed with the error's type only (no message, no stack: they can quote keys). */
function fail(span: Span, error: unknown): void {
  span.setAttributes({ [CacheAttr.outcome]: 'error', [CacheAttr.errorType]: errorTypeOf(error) });
  span.setStatus({ code: SpanStatusCode.ERROR });
}

/**
 * Runs `run` inside a new span `name` (the active span meanwhile, so spans started inside it are
 * its children); `finish` adds attributes read from the result. The span ends when the promise
 * settles, failed (with `error.type`) on a rejection. `scope`: `call` for a public call's own span
 * (see `callTracer`), `factory` for a factory run (whose cache calls get their own spans).
 */
export function traced<T>(
  tracer: Tracer,
  name: string,
  attributes: Attributes,
  run: () => Promise<T>,
  finish?: (span: Span, result: T) => void,
  scope: 'call' | 'factory' = 'call',
): Promise<T> {
  const started = performance.now();
  const span = tracer.startSpan(name, { attributes });
  const parent = trace.setSpan(context.active(), span);
  let work: Promise<T>;
  try {
    work = context.with(
      scope === 'call' ? parent.setValue(IN_CALL, true) : parent.deleteValue(IN_CALL),
      run,
    );
  } catch (e) {
    work = Promise.reject(e);
  }
  return work.then(
    (result) => {
      finish?.(span, result);
      end(span, started);
      return result;
    },
    (error: unknown) => {
      fail(span, error);
      end(span, started);
      throw error;
    },
  );
}

/** Sets the tier, hit and outcome attributes of a value answered from `source`. */
export function markSource(span: Span, source: CacheSource): void {
  const tier = tierOf(source);
  span.setAttributes({
    [CacheAttr.tier]: tier,
    [CacheAttr.hit]: tier !== 'factory',
    [CacheAttr.outcome]: tier === 'factory' ? 'miss' : tier === 'stale' ? 'stale' : 'hit',
  });
}

/** Sets the hit and outcome attributes of a read that found a value (`hit`) or not (`miss`). */
export function markFound(span: Span, found: boolean): void {
  span.setAttributes({ [CacheAttr.hit]: found, [CacheAttr.outcome]: found ? 'hit' : 'miss' });
}

/** Sets the outcome of a write: `ok` when stored, else `not_stored`. */
export function markStored(span: Span, stored: boolean): void {
  span.setAttribute(CacheAttr.outcome, stored ? 'ok' : 'not_stored');
}

/** The attributes a `lookup` span starts with. */
export function lookupAttributes(keyType: string | undefined): Attributes {
  return {
    [CacheAttr.operation]: 'lookup',
    [CacheAttr.keyType]: keyType ?? 'other',
    [CacheAttr.tier]: 'l2',
  };
}

/**
 * The L2 read of an L1 miss (`read()`, started inside it) as a `lookup` span, child of the active
 * span: answers what `read` answers; the span ends when it settles (`hit` when L2 held text).
 */
export function tracedLookup(
  tracer: Tracer,
  keyType: string | undefined,
  read: () => Promise<string | undefined>,
): Promise<string | undefined> {
  const started = performance.now();
  const span = tracer.startSpan(CacheSpan.lookup, { attributes: lookupAttributes(keyType) });
  const failed = (error: unknown) => {
    fail(span, error);
    end(span, started);
    throw error;
  };
  let pending: Promise<string | undefined>;
  try {
    pending = read();
  } catch (e) {
    return failed(e);
  }
  return pending.then((raw) => {
    markFound(span, raw !== undefined);
    end(span, started);
    return raw;
  }, failed);
}
