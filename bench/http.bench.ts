/**
 * HTTP benchmark (issue: Nest edge): one cached GET route served through Nest's stock
 * `CacheInterceptor` (CACHE_MANAGER = cache-manager 7 + Keyv + `@keyv/redis`) and through our
 * `HttpCacheInterceptor` (market cache: L1 over Redis; and with L1 disabled), all against one
 * redis-server this script starts, driven by autocannon (in a worker thread). The same route with
 * no cache shows what the HTTP stack alone costs. Each case runs in a child process of its own
 * (sharing one process, cases disturbed each other's JIT and GC state), for a few rounds in
 * turn (order reversed every other round); each keeps its best round.
 * Run alone: `npx tsx bench/http.bench.ts`.
 *
 * Every Nest class here injects explicitly (`@Inject`): tsx/esbuild emits no decorator metadata.
 */
import 'reflect-metadata';
import { CacheInterceptor, CacheModule, CacheTTL } from '@nestjs/cache-manager';
import {
  Controller,
  Get,
  Inject,
  Module,
  Param,
  RequestMethod,
  UseInterceptors,
  type DynamicModule,
  type INestApplication,
  type MiddlewareConsumer,
  type NestModule,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory, Reflector } from '@nestjs/core';
import KeyvRedis, { Keyv } from '@keyv/redis';
import autocannon from 'autocannon';
import { fork } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { CacheKeyType } from '../src/cache/keys/cache-key-type.js';
import { CacheResponse } from '../src/cache/http/cache-response.decorator.js';
import {
  HttpCacheFastPath,
  HttpCacheFastPathIndex,
} from '../src/cache/http/http-cache.fast-path.js';
import { HttpCacheInterceptor } from '../src/cache/http/http-cache.interceptor.js';
import { CacheService } from '../src/cache/cache.service.js';
import { CacheTTLPolicy } from '../src/cache/keys/cache-ttl-policy.js';
import { benchCacheService } from './cache-stack.js';
import { RedisServerProcess } from '../test/harness/redis-server.js';
import { barsPayload, quotePayload, runForkedBenchScript, type BenchRow } from './lib.js';

const SECTION = 'http';
const QUOTE = 'BENCH:QUOTE';
/** Seconds per autocannon run (env `BENCH_HTTP_SECONDS`). */
const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 4);
/** Rounds per case (env `BENCH_HTTP_ROUNDS`). */
const ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 3);
const CONNECTIONS = 50;
/** autocannon worker threads (env `BENCH_HTTP_WORKERS`). */
const WORKERS = Number(process.env.BENCH_HTTP_WORKERS ?? 1);
const TICKERS = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOG', 'META', 'TSLA', 'AVGO'];

/** The route cached by Nest's stock interceptor (TTL in ms, as cache-manager 7 takes it). */
@Controller('quotes')
@UseInterceptors(CacheInterceptor)
class StockQuoteController {
  constructor(@Inject(QUOTE) private readonly quote: Record<string, unknown>) {}

  @Get(':ticker')
  @CacheTTL(3_600_000)
  get(@Param('ticker') ticker: string) {
    return { ...this.quote, ticker };
  }
}

/** The same route cached by our interceptor. */
@Controller('quotes')
class OurQuoteController {
  constructor(@Inject(QUOTE) private readonly quote: Record<string, unknown>) {}

  @Get(':ticker')
  @CacheResponse({ keyType: CacheKeyType.STOCK_PRICE, ttl: 3600 })
  get(@Param('ticker') ticker: string) {
    return { ...this.quote, ticker };
  }
}

/** The same route with no cache at all: the HTTP stack's own cost, for scale. */
@Controller('quotes')
class UncachedQuoteController {
  constructor(@Inject(QUOTE) private readonly quote: Record<string, unknown>) {}

  @Get(':ticker')
  get(@Param('ticker') ticker: string) {
    return { ...this.quote, ticker };
  }
}

@Module({})
class UncachedApp {
  static create(quote: Record<string, unknown>): DynamicModule {
    return {
      module: UncachedApp,
      controllers: [UncachedQuoteController],
      providers: [{ provide: QUOTE, useValue: quote }],
    };
  }
}

@Module({})
class StockApp {
  static forRedis(url: string, quote: Record<string, unknown>): DynamicModule {
    return {
      module: StockApp,
      imports: [
        CacheModule.register({
          stores: [new Keyv({ store: new KeyvRedis(url), namespace: 'stock' })],
        }),
      ],
      controllers: [StockQuoteController],
      providers: [{ provide: QUOTE, useValue: quote }],
    };
  }
}

@Module({})
class OurApp implements NestModule {
  private static fastPath = true;

  /** Our route: the interceptor, plus (unless `fastPath` is false) the fast-path middleware, as `EdgeModule` applies it. */
  static forCache(
    cache: CacheService,
    quote: Record<string, unknown>,
    fastPath = true,
  ): DynamicModule {
    OurApp.fastPath = fastPath;
    return {
      module: OurApp,
      controllers: [OurQuoteController],
      providers: [
        { provide: QUOTE, useValue: quote },
        { provide: CacheService, useValue: cache },
        {
          provide: HttpCacheFastPathIndex,
          inject: [Reflector],
          useFactory: (r: Reflector) => new HttpCacheFastPathIndex(r),
        },
        {
          provide: APP_INTERCEPTOR,
          inject: [CacheService, Reflector, HttpCacheFastPathIndex],
          useFactory: (c: CacheService, r: Reflector, index: HttpCacheFastPathIndex) =>
            new HttpCacheInterceptor(
              c,
              r,
              new CacheTTLPolicy(),
              undefined,
              undefined,
              fastPath ? index : undefined,
            ),
        },
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    if (OurApp.fastPath)
      consumer.apply(HttpCacheFastPath).forRoutes({ path: '{*splat}', method: RequestMethod.ALL });
  }
}

async function listen(module: DynamicModule): Promise<{ app: INestApplication; url: string }> {
  const app = await NestFactory.create(module, { logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}` };
}

/**
 * One autocannon run over the tickers (all cached beforehand): requests/s and latency in µs, and
 * in the note the server thread's busy time per request (event-loop utilization × duration ÷
 * requests), which tells the cost of a path apart better than throughput on a shared machine.
 */
async function cannon(
  name: string,
  url: string,
  seconds: number,
  bytes: number,
): Promise<BenchRow> {
  // Let the previous run's sockets close and its garbage be collected, so it is not billed here.
  await new Promise((r) => setTimeout(r, 500));
  (globalThis as { gc?: () => void }).gc?.();
  const elu0 = performance.eventLoopUtilization();
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    // The load generator runs in its own thread, so it does not share the server's event loop.
    workers: WORKERS,
    requests: TICKERS.map((t) => ({ method: 'GET', path: `/quotes/${t}` })),
  });
  const busyMs = performance.eventLoopUtilization(elu0).active;
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${name}: ${result.non2xx} non-2xx responses, ${result.errors} errors`);
  return {
    section: `${SECTION} (${bytes === 0 ? '252 daily bars, 24 KB' : bytes >= 1024 ? `${Math.round(bytes / 1024)} KB quote` : `${bytes} B`} JSON body)`,
    name,
    opsPerSec: result.requests.average,
    p50Us: result.latency.p50 * 1000,
    p99Us: result.latency.p99 * 1000,
    note: `server thread busy ${((busyMs * 1000) / Math.max(1, result.requests.total)).toFixed(0)} µs/request; ${CONNECTIONS} connections, ${seconds} s`,
  };
}

/** The cases, in table order (stock line first). */
const CASES = [
  { id: 'stock', name: 'Nest CacheInterceptor (cache-manager 7 + @keyv/redis)' },
  { id: 'ours', name: 'HttpCacheInterceptor + fast path (L1 + Redis)' },
  { id: 'ours-nofast', name: 'HttpCacheInterceptor alone, no fast path (L1 + Redis)' },
  { id: 'ours-l2', name: 'HttpCacheInterceptor (Redis only, L1 off)' },
  { id: 'uncached', name: 'no cache (same route, handler runs)' },
] as const;
type CaseId = (typeof CASES)[number]['id'];

/** argv[2] of a child process running one case. */
const CHILD_FLAG = '--http-bench-case';

/** Serves one case's app on a free port; `close` stops it and what it opened. */
async function serveCase(
  id: CaseId,
  redisUrl: string,
  bytes: number,
): Promise<{ url: string; close: () => Promise<void> }> {
  // Size 0 stands for a year of daily bars (252 bars, ≈ 24 KB): many small objects, as the app serves.
  const quote = bytes === 0 ? barsPayload(252) : quotePayload(bytes);
  if (id === 'stock' || id === 'uncached') {
    const { app, url } = await listen(
      id === 'stock' ? StockApp.forRedis(redisUrl, quote) : UncachedApp.create(quote),
    );
    return { url, close: () => app.close() };
  }
  const cache = await benchCacheService(
    redisUrl,
    'bench-http',
    id === 'ours-l2' ? { keyPrefix: 'bench-http-l2', l1MaxItemBytes: 1 } : {},
  );
  const { app, url } = await listen(OurApp.forCache(cache.service, quote, id === 'ours'));
  return { url, close: async () => (await app.close(), await cache.close()) };
}

/** Runs one case in this process: serve, prime the cache (1 s of load), measure. */
async function runCase(
  id: CaseId,
  redisUrl: string,
  seconds: number,
  bytes: number,
): Promise<BenchRow> {
  const name = CASES.find((c) => c.id === id)?.name ?? id;
  const served = await serveCase(id, redisUrl, bytes);
  try {
    await cannon(name, served.url, 1, bytes);
    return await cannon(name, served.url, seconds, bytes);
  } finally {
    await served.close();
  }
}

/** Runs one case in a child process of its own, so no case inherits another's JIT or heap state. */
function runCaseIsolated(
  id: CaseId,
  redisUrl: string,
  seconds: number,
  bytes: number,
): Promise<BenchRow> {
  return new Promise((resolve, reject) => {
    const child = fork(
      fileURLToPath(import.meta.url),
      [CHILD_FLAG, id, redisUrl, String(seconds), String(bytes)],
      { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    let row: BenchRow | undefined;
    child.once('message', (m) => (row = m as BenchRow));
    child.once('error', reject);
    child.once('exit', (code) =>
      row ? resolve(row) : reject(new Error(`http bench case ${id} exited with code ${code}`)),
    );
  });
}

/**
 * Stock CacheInterceptor vs ours on one Redis, and the uncached route for scale, for a 1 KB quote
 * and a year of daily bars (252 bars, ≈ 24 KB: size 0); one section per body, stock line first. Each case runs `ROUNDS` times, each time in a fresh child process, cases in turn (order
 * reversed every other round); each keeps its best round.
 */
export async function runHttpBench(sizes: readonly number[] = [1024, 0]): Promise<BenchRow[]> {
  const server = await RedisServerProcess.start();
  try {
    const rows: BenchRow[] = [];
    for (const bytes of sizes) {
      const best = new Map<CaseId, BenchRow>();
      for (let r = 0; r < ROUNDS; r++) {
        for (const c of r % 2 === 0 ? CASES : [...CASES].reverse()) {
          const row = await runCaseIsolated(c.id, server.url, SECONDS, bytes);
          const prev = best.get(c.id);
          if (!prev || row.opsPerSec > prev.opsPerSec) best.set(c.id, row);
        }
      }
      rows.push(...CASES.map((c) => best.get(c.id) as BenchRow));
    }
    return rows;
  } finally {
    await server.stop();
  }
}

// Forked by runHttpBench: hand the row back; run by hand: print it.
runForkedBenchScript(
  import.meta.url,
  CHILD_FLAG,
  ([id, redisUrl, seconds, bytes]) =>
    runCase(id as CaseId, redisUrl, Number(seconds), Number(bytes ?? 1024)),
  runHttpBench,
);
