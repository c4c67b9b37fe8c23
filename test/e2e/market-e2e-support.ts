/** Shared helpers of the market e2e suites: app start-up, NDJSON requests, Redis key listing. */
import type { INestApplication } from '@nestjs/common';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import request from 'supertest';
import { loadAppConfig } from '../../config/app-config.js';
import { AppModule } from '../../src/app.module.js';
import { configureApp } from '../../src/configure-app.js';
import { createMarketDataProvider } from '../../src/market/market.module.js';
import { MARKET_SETTINGS, marketSettings } from '../../src/market/market.options.js';
import {
  MARKET_DATA_PROVIDER,
  type MarketDataProvider,
} from '../../src/market/providers/market-data.provider.js';
import { testRedis } from '../harness/test-env.js';
import { uniquePrefix } from '../support/cache-context.js';

/** A started app with its provider, key prefix and a Redis client for inspection. */
export interface MarketApp<P extends MarketDataProvider = MarketDataProvider> {
  app: INestApplication;
  provider: P;
  prefix: string;
  redis: Redis;
  close(): Promise<void>;
}

/**
 * Starts the whole app (`AppModule.forConfig` + `configureApp`) on the harness Redis with a unique
 * key prefix. `today` (a fixed ISO day) replaces the real UTC date as "today" for the market
 * settings and the data source, so tests about the live day do not depend on the real calendar.
 */
export async function startMarketApp<P extends MarketDataProvider>(
  env: Record<string, string> = {},
  today?: string,
): Promise<MarketApp<P>> {
  const prefix = uniquePrefix('mkt');
  const cfg = loadAppConfig({ REDIS_URL: testRedis().url, CACHE_KEY_PREFIX: prefix, ...env });
  let builder = Test.createTestingModule({ imports: [AppModule.forConfig(cfg)] });
  if (today !== undefined) {
    const options = { today: () => today };
    builder = builder
      .overrideProvider(MARKET_SETTINGS)
      .useValue(marketSettings(cfg, options))
      .overrideProvider(MARKET_DATA_PROVIDER)
      .useFactory({ factory: () => createMarketDataProvider(cfg, options) });
  }
  const moduleRef = await builder.compile();
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  configureApp(app);
  await app.init();
  const redis = new Redis(testRedis().url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  return {
    app,
    provider: app.get<P>(MARKET_DATA_PROVIDER),
    prefix,
    redis,
    close: async () => {
      redis.disconnect();
      await app.close();
    },
  };
}

/** Every stored key under `prefix`. */
export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    out.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return out.sort();
}

/** One NDJSON answer: status, headers, and the parsed lines. */
export interface NdjsonAnswer {
  status: number;
  headers: Record<string, string>;
  text: string;
  lines: Array<Record<string, unknown>>;
}

/** POSTs a trades query and parses the NDJSON body (every line must be JSON). */
export async function postTrades(app: INestApplication, body: unknown): Promise<NdjsonAnswer> {
  const res = await request(app.getHttpServer())
    .post('/api/trades/query')
    .send(body as object)
    .buffer(true)
    .parse((stream, done) => {
      let text = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => (text += chunk));
      stream.on('end', () => done(null, text));
    });
  const text = typeof res.body === 'string' ? res.body : JSON.stringify(res.body);
  const lines =
    res.status === 200
      ? text
          .split('\n')
          .filter((l) => l.length > 0)
          .map((l) => JSON.parse(l) as Record<string, unknown>)
      : [];
  return { status: res.status, headers: res.headers as Record<string, string>, text, lines };
}

/** PostgreSQL server the PG suites use (they create and drop their own database on it). */
export const PG_SERVER_URL =
  process.env.MARKET_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Checks synchronously (Jest collects suites synchronously) whether PostgreSQL answers at `url`:
 * undefined when it does, else the reason. Under `CI=true` an unreachable server throws.
 */
export function probePostgres(url: string, suite: string): string | undefined {
  const script = `const { Client } = require(${JSON.stringify(createRequire(import.meta.url).resolve('pg'))});
    const c = new Client({ connectionString: ${JSON.stringify(url)}, connectionTimeoutMillis: 2000 });
    c.connect().then(() => c.end()).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 5000 });
  if (r.status === 0) return undefined;
  const reason = (r.stderr || r.error?.message || `exit ${r.status}`).trim();
  if (process.env.CI === 'true')
    throw new Error(`PostgreSQL is required in CI but ${url} did not answer: ${reason}`);
  console.warn(
    `${suite}: skipping, PostgreSQL at ${url} did not answer (${reason}); set CI=true to make this a failure`,
  );
  return reason;
}
