/**
 * The app's signature query over HTTP (section `http-bars`): `GET /api/stocks/:t/bars` for five
 * years, warm, from the app on its own cache (HTTP cache + fast path with L1; and Redis only, as
 * an instance of a fleet whose L1 is cold), against what a user would run without us: a plain
 * Nest route on the same Express stack that queries PostgreSQL for the same rows and answers
 * them as JSON. Same data (`market_cache_bench`, seeded by the market-source bench when empty),
 * 50 connections, autocannon in a worker thread; each case in a child process of its own, a few
 * rounds in turn, best round kept.
 */
import 'reflect-metadata';
import { Controller, Get, Inject, Module, Param, Query, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import autocannon from 'autocannon';
import { fork } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Pool } from 'pg';
import { loadAppConfig } from '../config/app-config.js';
import { AppModule } from '../src/app.module.js';
import { configureApp } from '../src/configure-app.js';
import { ensureDatabase } from '../src/market/providers/postgres/database.js';
import { DEFAULT_TICKERS } from '../src/market/providers/synthetic-data.js';
import { addDays } from '../src/market/providers/trading-calendar.js';
import { RedisServerProcess } from '../test/harness/redis-server.js';
import { runForkedBenchScript, type BenchRow } from './lib.js';
import { runMarketSourceBench } from './market-source.bench.js';

const SECTION = 'http-bars (5 years of daily bars per request)';
const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 4);
const ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 2);
const CONNECTIONS = 50;
/** The tickers `market_cache_bench` is seeded with (the market-source bench seeds the first three). */
const TICKERS = DEFAULT_TICKERS.slice(0, 3);
const FIVE_YEARS_DAYS = Math.round(5 * 365.25);
const BENCH_DB_URL =
  process.env.MARKET_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/market_cache_bench';
const CHILD_FLAG = '--app-bars-case';
const SQL = `SELECT to_char(date, 'YYYY-MM-DD') AS date, open::float8 AS open, high::float8 AS high,
                    low::float8 AS low, close::float8 AS close, volume::float8 AS volume
               FROM daily_bars WHERE ticker = $1 AND date BETWEEN $2::date AND $3::date ORDER BY date`;

const CASES = [
  { id: 'pg', name: 'plain Nest route, PostgreSQL query per request (rows as JSON)' },
  { id: 'app', name: 'the app: HTTP cache + fast path (L1 + Redis)' },
  { id: 'app-l2', name: 'the app, Redis only (L1 off: a fleet instance with a cold L1)' },
] as const;
type CaseId = (typeof CASES)[number]['id'];

/** The plain route a user would write without a cache: one query per request, rows as JSON. */
@Controller('bars')
class PgBarsController {
  constructor(@Inject('PG_POOL') private readonly pool: Pool) {}

  @Get(':ticker')
  async bars(
    @Param('ticker') ticker: string,
    @Query('from') from: string,
    @Query('to') to: string,
  ): Promise<{ ticker: string; from: string; to: string; bars: unknown[] }> {
    const { rows } = await this.pool.query(SQL, [ticker, from, to]);
    return { ticker, from, to, bars: rows };
  }
}

@Module({})
class PgBarsApp {
  static forPool(pool: Pool): DynamicModule {
    return {
      module: PgBarsApp,
      controllers: [PgBarsController],
      providers: [{ provide: 'PG_POOL', useValue: pool }],
    };
  }
}

/** The last bar day stored for the tickers (the seeded data's end), seeding the bench database when empty. */
async function lastStoredDay(): Promise<string> {
  await ensureDatabase(BENCH_DB_URL, 2000);
  const pool = new Pool({ connectionString: BENCH_DB_URL, max: 1 });
  try {
    const query = () =>
      pool.query<{ last: string | null }>(
        `SELECT to_char(max(date), 'YYYY-MM-DD') AS last FROM daily_bars WHERE ticker = $1`,
        [TICKERS[0]],
      );
    let last = (await query().catch(() => ({ rows: [{ last: null }] }))).rows[0]?.last ?? null;
    if (last === null) {
      await runMarketSourceBench();
      last = (await query()).rows[0]?.last ?? null;
    }
    if (last === null) throw new Error('market_cache_bench holds no bars');
    return last;
  } finally {
    await pool.end();
  }
}

/** Serves one case on a free port. */
async function serveCase(
  id: CaseId,
  redisUrl: string,
): Promise<{ url: string; close: () => Promise<void> }> {
  if (id === 'pg') {
    const pool = new Pool({ connectionString: BENCH_DB_URL, max: 10 });
    const app = await NestFactory.create(PgBarsApp.forPool(pool), { logger: false });
    app.getHttpAdapter().getInstance().disable('x-powered-by');
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      close: async () => (await app.close(), await pool.end()),
    };
  }
  const cfg = loadAppConfig({
    REDIS_URL: redisUrl,
    DATABASE_URL: BENCH_DB_URL,
    CACHE_KEY_PREFIX: `bench-app-${id}`,
    NODE_ENV: 'production',
  });
  if (id === 'app-l2') cfg.cache = { ...cfg.cache, l1MaxItemBytes: 1 };
  // One load generator on loopback is one client address: the anonymous throttle (a per-address
  // budget) would refuse it, so it is off here; each request pays its Redis round trip otherwise.
  const app = await NestFactory.create(
    AppModule.forConfig(cfg, { throttleLimit: 0, throttleWindowMs: 60_000 }),
    { logger: false },
  );
  configureApp(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

/** The request paths of a case: five years for each ticker. */
function pathsOf(id: CaseId, to: string): string[] {
  const from = addDays(to, -FIVE_YEARS_DAYS);
  return TICKERS.map((t) =>
    id === 'pg'
      ? `/bars/${t}?from=${from}&to=${to}`
      : `/api/stocks/${t}/bars?from=${from}&to=${to}`,
  );
}

async function cannon(name: string, url: string, paths: string[], seconds: number) {
  await new Promise((r) => setTimeout(r, 300));
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    workers: 1,
    requests: paths.map((path) => ({ method: 'GET', path })),
  });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${name}: ${result.non2xx} non-2xx responses, ${result.errors} errors`);
  const kb = Math.round(result.throughput.total / Math.max(1, result.requests.total) / 1024);
  return {
    section: SECTION,
    name,
    opsPerSec: result.requests.average,
    p50Us: result.latency.p50 * 1000,
    p99Us: result.latency.p99 * 1000,
    note: `${kb} KB per response; ${CONNECTIONS} connections, ${seconds} s`,
  } satisfies BenchRow;
}

/** Runs one case in this process: serve, warm (1 s of load), measure. */
async function runCase(id: CaseId, redisUrl: string, to: string, seconds: number) {
  const name = CASES.find((c) => c.id === id)?.name ?? id;
  const served = await serveCase(id, redisUrl);
  try {
    const paths = pathsOf(id, to);
    await cannon(name, served.url, paths, 1);
    return await cannon(name, served.url, paths, seconds);
  } finally {
    await served.close();
  }
}

function runCaseIsolated(id: CaseId, redisUrl: string, to: string): Promise<BenchRow> {
  return new Promise((resolve, reject) => {
    const child = fork(
      fileURLToPath(import.meta.url),
      [CHILD_FLAG, id, redisUrl, to, String(SECONDS)],
      { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    let row: BenchRow | undefined;
    child.once('message', (m) => (row = m as BenchRow));
    child.once('error', reject);
    child.once('exit', (code) =>
      row ? resolve(row) : reject(new Error(`app-bars case ${id} exited with code ${code}`)),
    );
  });
}

/** The plain PostgreSQL route first, then the app with and without L1; ratios against the first line. */
export async function runAppBarsBench(): Promise<BenchRow[]> {
  const to = await lastStoredDay();
  const server = await RedisServerProcess.start();
  try {
    const best = new Map<CaseId, BenchRow>();
    for (let r = 0; r < ROUNDS; r++)
      for (const c of r % 2 === 0 ? CASES : [...CASES].reverse()) {
        const row = await runCaseIsolated(c.id, server.url, to);
        const prev = best.get(c.id);
        if (!prev || row.opsPerSec > prev.opsPerSec) best.set(c.id, row);
      }
    const base = (best.get('pg') as BenchRow).opsPerSec;
    return CASES.map((c) => {
      const row = best.get(c.id) as BenchRow;
      return c.id === 'pg'
        ? row
        : {
            ...row,
            note: `${(row.opsPerSec / base).toFixed(1)}× the PostgreSQL route; ${row.note}`,
          };
    });
  } finally {
    await server.stop();
  }
}

runForkedBenchScript(
  import.meta.url,
  CHILD_FLAG,
  ([id, redisUrl, to, seconds]) => runCase(id as CaseId, redisUrl, to, Number(seconds)),
  runAppBarsBench,
);
