import { jest } from '@jest/globals';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { readFileSync } from 'node:fs';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import {
  CacheAttr,
  CacheSpan,
  HOT_RECHECK_CALLS,
  TRACER_NAME,
  TRACER_VERSION,
  activeTracer,
} from '../../src/cache/tiered/tracing.js';
import { testRedis } from '../harness/test-env.js';
import { createCacheContext, uniquePrefix, type CacheContext } from '../support/cache-context.js';
import { REAL_EXCEPT_DATE } from '../support/fake-time.js';

/*
 * OpenTelemetry spans of the cache on the harness Redis, with the SDK's in-memory exporter and
 * the AsyncLocalStorage context manager (parent/child across awaits) registered globally. The
 * cache starts before any registration (as when an SDK is set up after the app took traffic);
 * the first test registers them (each test file has its own globals).
 */

// Strings that must never reach a span: an entity id, a value, and the key prefix.
const SECRET_ENTITY = 'ZX9SECRETTICKER';
const SECRET_VALUE = 'VALUE-MARKER-4711';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();
let ctx: CacheContext;
let prefix: string;
let n = 0;

/** A fresh logical key of `type` carrying the secret entity id. */
function keyOf(type: CacheKeyType = CacheKeyType.STOCK_PRICE): string {
  return `${type}:${SECRET_ENTITY}${++n}:latest`;
}

const value = () => ({ note: SECRET_VALUE, price: 101 });

function spans(): ReadableSpan[] {
  return exporter.getFinishedSpans();
}

function named(name: string): ReadableSpan[] {
  return spans().filter((s) => s.name === name);
}

function only(name: string): ReadableSpan {
  const found = named(name);
  expect(found).toHaveLength(1);
  return found[0];
}

function childrenOf(parent: ReadableSpan): ReadableSpan[] {
  const id = parent.spanContext().spanId;
  return spans().filter((s) => s.parentSpanContext?.spanId === id);
}

/** Everything a span exports that a backend could show: name, attributes, events, status. */
function exported(span: ReadableSpan): string {
  return JSON.stringify({
    name: span.name,
    attributes: span.attributes,
    events: span.events,
    status: span.status,
    links: span.links,
  });
}

function expectNothingSecret(): void {
  expect(spans().length).toBeGreaterThan(0);
  for (const span of spans()) {
    const text = exported(span);
    expect(text).not.toContain(SECRET_ENTITY);
    expect(text).not.toContain(SECRET_VALUE);
    expect(text).not.toContain(prefix);
  }
}

/** Registers the SDK and the context manager (once). */
function register(): void {
  if (activeTracer() !== undefined) return;
  context.setGlobalContextManager(contextManager.enable());
  trace.setGlobalTracerProvider(provider);
}

beforeAll(async () => {
  prefix = uniquePrefix('otel');
  ctx = await createCacheContext({ redisUrl: testRedis().url, keyPrefix: prefix });
});

afterAll(async () => {
  await ctx.close();
  trace.disable();
  context.disable();
  await provider.shutdown();
});

beforeEach(async () => {
  await ctx.tiered.drain();
  exporter.reset();
});

afterEach(() => jest.useRealTimers());

describe('an SDK registered after the cache took traffic', () => {
  it('is seen by L1 hits within HOT_RECHECK_CALLS calls, then every call has its spans', async () => {
    const [warm, cold] = [keyOf(), keyOf()];
    await ctx.cache.getOrSet(warm, value); // no OpenTelemetry global exists yet
    await ctx.tiered.drain();
    expect(activeTracer()).toBeUndefined();
    register();

    // L1 hits only: the cheap check sees the SDK within HOT_RECHECK_CALLS calls.
    for (let i = 0; i < HOT_RECHECK_CALLS; i++) await ctx.cache.getOrSet(warm, value);
    const hits = named(CacheSpan.getOrSet);
    expect(hits.length).toBeGreaterThan(0);
    expect(hits.every((s) => s.attributes[CacheAttr.tier] === 'l1')).toBe(true);

    // From then on every call has its root span, a miss with its children under it.
    exporter.reset();
    await ctx.cache.getOrSet(cold, value);
    await ctx.tiered.drain();
    const root = only(CacheSpan.getOrSet);
    expect(childrenOf(root).map((s) => s.name)).toEqual(
      expect.arrayContaining([CacheSpan.lookup, CacheSpan.factory, CacheSpan.write]),
    );
    expect(spans()).toHaveLength(4);
  });
});

describe('spans of one getOrSet miss', () => {
  beforeAll(register);

  it('is a getOrSet root with lookup → factory → write children carrying the attributes', async () => {
    const key = keyOf();
    const result = await ctx.cache.getOrSetResult(key, value);
    expect(result.source).toBe('factory');
    await ctx.tiered.drain(); // the L2 write follows the answer in the background

    const root = only(CacheSpan.getOrSet);
    expect(root.parentSpanContext).toBeUndefined();
    expect(root.instrumentationScope).toMatchObject({ name: TRACER_NAME, version: TRACER_VERSION });
    expect(root.attributes).toMatchObject({
      [CacheAttr.operation]: 'getOrSet',
      [CacheAttr.keyType]: 'stock_price',
      [CacheAttr.store]: 'redis',
      [CacheAttr.tier]: 'factory',
      [CacheAttr.outcome]: 'miss',
      [CacheAttr.hit]: false,
    });
    expect(root.attributes[CacheAttr.durationMs]).toEqual(expect.any(Number));

    const children = childrenOf(root);
    // In the order they started: the L2 read, the factory, then the write of its value.
    const ordered = [...children].sort(
      (a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1],
    );
    expect(ordered.map((s) => s.name)).toEqual([
      CacheSpan.lookup,
      CacheSpan.factory,
      CacheSpan.write,
    ]);
    const [lookup, factory, write] = ordered;
    for (const child of ordered) {
      expect(child.spanContext().traceId).toBe(root.spanContext().traceId);
      expect(child.attributes[CacheAttr.keyType]).toBe('stock_price');
      expect(child.attributes[CacheAttr.durationMs]).toEqual(expect.any(Number));
    }
    expect(lookup.attributes).toMatchObject({
      [CacheAttr.tier]: 'l2',
      [CacheAttr.hit]: false,
      [CacheAttr.outcome]: 'miss',
    });
    expect(factory.attributes).toMatchObject({
      [CacheAttr.tier]: 'factory',
      [CacheAttr.factoryKind]: 'miss',
      [CacheAttr.outcome]: 'ok',
    });
    expect(write.attributes).toMatchObject({ [CacheAttr.tier]: 'l2', [CacheAttr.outcome]: 'ok' });
    expect(spans()).toHaveLength(4);
    expectNothingSecret();
  });

  it('nests the cache calls a factory makes under the factory span', async () => {
    const inner = keyOf(CacheKeyType.NEWS_DATA);
    await ctx.cache.getOrSet(keyOf(), async () => ({
      news: await ctx.cache.getOrSet(inner, () => ['headline']),
    }));
    await ctx.tiered.drain();

    const roots = named(CacheSpan.getOrSet);
    expect(roots).toHaveLength(2);
    const outer = roots.find((s) => s.attributes[CacheAttr.keyType] === 'stock_price');
    const nested = roots.find((s) => s.attributes[CacheAttr.keyType] === 'news_data');
    expect(outer).toBeDefined();
    expect(nested).toBeDefined();
    const factory = childrenOf(outer as ReadableSpan).find((s) => s.name === CacheSpan.factory);
    expect(nested?.parentSpanContext?.spanId).toBe(factory?.spanContext().spanId);
    // The inner call has its own children (its miss), not the outer's.
    expect(childrenOf(nested as ReadableSpan).map((s) => s.name)).toContain(CacheSpan.factory);
    expectNothingSecret();
  });

  it('marks a failed factory as an error, by error code only', async () => {
    const key = keyOf();
    await expect(
      ctx.cache.getOrSet(key, () => {
        throw new Error(`source down for ${key}: ${SECRET_VALUE}`);
      }),
    ).rejects.toMatchObject({ code: 'CACHE_FACTORY_FAILED' });
    await ctx.tiered.drain();

    const root = only(CacheSpan.getOrSet);
    expect(root.status.code).toBe(SpanStatusCode.ERROR);
    expect(root.attributes).toMatchObject({
      [CacheAttr.outcome]: 'error',
      [CacheAttr.errorType]: 'CACHE_FACTORY_FAILED',
    });
    const factory = only(CacheSpan.factory);
    expect(factory.attributes).toMatchObject({
      [CacheAttr.outcome]: 'error',
      [CacheAttr.errorType]: 'Error',
    });
    expect(factory.status.code).toBe(SpanStatusCode.ERROR);
    expectNothingSecret();
  });
});

describe('spans of the other answers and calls', () => {
  beforeAll(register);
  it('an L1 hit is one span with tier l1', async () => {
    const key = keyOf();
    await ctx.cache.getOrSet(key, value);
    await ctx.tiered.drain();
    exporter.reset();

    expect(await ctx.cache.getOrSet(key, value)).toEqual(value());
    expect(spans().map((s) => s.name)).toEqual([CacheSpan.getOrSet]);
    expect(spans()[0].attributes).toMatchObject({
      [CacheAttr.tier]: 'l1',
      [CacheAttr.outcome]: 'hit',
      [CacheAttr.hit]: true,
    });
    expectNothingSecret();
  });

  it('an L2 hit has one lookup child that found the value', async () => {
    const key = keyOf();
    await ctx.cache.set(key, value());
    ctx.tiered.l1.clear();
    exporter.reset();

    expect((await ctx.cache.getOrSetResult(key, value)).source).toBe('l2');
    const root = only(CacheSpan.getOrSet);
    expect(root.attributes).toMatchObject({ [CacheAttr.tier]: 'l2', [CacheAttr.outcome]: 'hit' });
    expect(childrenOf(root).map((s) => [s.name, s.attributes[CacheAttr.outcome]])).toEqual([
      [CacheSpan.lookup, 'hit'],
    ]);
  });

  it('a stale serve has tier stale, and its background refresh is a factory span under it', async () => {
    // Only `Date` is faked: the entry's timeline moves at once while Redis keeps real time.
    jest.useFakeTimers({ doNotFake: [...REAL_EXCEPT_DATE] });
    const key = keyOf();
    await ctx.cache.getOrSet(key, value, { ttl: 10 });
    await ctx.tiered.drain();
    jest.setSystemTime(Date.now() + 9_000); // past the stale point (last 20 % of 10 s), before expiry
    exporter.reset();

    expect((await ctx.cache.getOrSetResult(key, value, { ttl: 10 })).source).toBe('stale');
    await ctx.tiered.drain();
    const root = only(CacheSpan.getOrSet);
    expect(root.attributes).toMatchObject({
      [CacheAttr.tier]: 'stale',
      [CacheAttr.outcome]: 'stale',
      [CacheAttr.hit]: true,
    });
    const refresh = childrenOf(root).find((s) => s.name === CacheSpan.factory);
    expect(refresh?.attributes).toMatchObject({
      [CacheAttr.factoryKind]: 'refresh',
      [CacheAttr.outcome]: 'ok',
    });
    expectNothingSecret();
  });

  it('set, get, a batch read, a batch write, delete and flushes are spans of their own', async () => {
    const type = CacheKeyType.FINANCIAL_DATA; // no other test here writes this type
    const [a, b, c] = [keyOf(type), keyOf(type), keyOf(type)];
    expect(await ctx.cache.set(a, value())).toBe(true);
    await ctx.cache.pipelineSet([{ key: b, value: value() }]);
    expect(await ctx.cache.get(c)).toBeUndefined();
    expect(await ctx.cache.pipelineGet([a, b, c])).toEqual([value(), value(), undefined]);
    expect(await ctx.cache.delete(a)).toBe(true);
    await ctx.cache.flushPattern('financial_data:*');
    await ctx.cache.clear('screens');
    await ctx.cache.clear();

    const set = only(CacheSpan.set);
    expect(set.attributes).toMatchObject({
      [CacheAttr.operation]: 'set',
      [CacheAttr.keyType]: 'financial_data',
      [CacheAttr.outcome]: 'ok',
    });
    expect(childrenOf(set).map((s) => s.name)).toEqual([CacheSpan.write]);
    expect(only(CacheSpan.setMany).attributes).toMatchObject({
      [CacheAttr.batchSize]: 1,
      [CacheAttr.outcome]: 'ok',
    });
    expect(only(CacheSpan.get).attributes).toMatchObject({
      [CacheAttr.outcome]: 'miss',
      [CacheAttr.hit]: false,
    });
    expect(only(CacheSpan.getMany).attributes).toMatchObject({
      [CacheAttr.keyType]: 'financial_data',
      [CacheAttr.batchSize]: 3,
      [CacheAttr.batchHits]: 2,
      [CacheAttr.outcome]: 'partial',
    });
    // `delete` runs an invalidation inside: one span, not two.
    expect(only(CacheSpan.delete).attributes).toMatchObject({
      [CacheAttr.flushKind]: 'keys',
      [CacheAttr.keyType]: 'financial_data',
      [CacheAttr.flushDeleted]: 1,
      [CacheAttr.outcome]: 'ok',
    });
    const flushes = named(CacheSpan.flush).map((s) => s.attributes);
    expect(flushes).toEqual([
      expect.objectContaining({
        [CacheAttr.flushKind]: 'pattern',
        [CacheAttr.keyType]: 'financial_data',
        [CacheAttr.flushDeleted]: 1,
      }),
      expect.objectContaining({ [CacheAttr.flushKind]: 'namespace' }),
      expect.objectContaining({ [CacheAttr.flushKind]: 'all', [CacheAttr.outcome]: 'ok' }),
    ]);
    expectNothingSecret();
  });
});

describe('without an SDK', () => {
  beforeAll(register);
  it('asks for no tracer and exports nothing; registering one turns spans on', async () => {
    trace.disable();
    try {
      expect(activeTracer()).toBeUndefined();
      const key = keyOf();
      await ctx.cache.getOrSet(key, value);
      await ctx.cache.getOrSet(key, value);
      await ctx.tiered.drain();
      expect(spans()).toEqual([]);
    } finally {
      trace.setGlobalTracerProvider(provider);
    }
    expect(activeTracer()).toBeDefined();
    await ctx.cache.getOrSet(keyOf(), value);
    expect(named(CacheSpan.getOrSet)).toHaveLength(1);
  });

  it('names the package version as the tracer version', () => {
    const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(TRACER_VERSION).toBe(manifest.version);
  });
});
