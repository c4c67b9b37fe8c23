/**
 * Source health on a real PostgreSQL (issue 15): the app started while PostgreSQL is down comes up
 * degraded (`data_source_down`, one log line, no stack trace) and recovers once it answers, without
 * a restart; a dropped database turns health degraded while cached answers are still served.
 * Skipped when no PostgreSQL answers, except under CI=true.
 */
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { Pool } from 'pg';
import request from 'supertest';
import { dropDatabase, ensureDatabase } from '../../src/market/providers/postgres/database.js';
import { migrate } from '../../src/market/providers/postgres/schema.js';
import { freePort } from '../harness/ports.js';
import { waitFor } from '../support/cache-context.js';
import { startApp, testAppConfig, type TestApp } from './support/app-harness.js';
import { PG_SERVER_URL, probePostgres } from './market-e2e-support.js';

const unavailable = probePostgres(PG_SERVER_URL, 'source-health-postgres.e2e');
const describeWithPostgres = unavailable === undefined ? describe : describe.skip;

/** A TCP forwarder from 127.0.0.1:`port` to the PostgreSQL server: "PostgreSQL starts" when it opens. */
async function openForwarder(port: number, targetPort: number): Promise<() => Promise<void>> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

/** The messages logged through `spy` that are about the market-data source. */
const sourceLines = (spy: { mock: { calls: unknown[][] } }): string[] =>
  spy.mock.calls.map((c) => String(c[0])).filter((m) => m.includes('market-data source'));

describeWithPostgres('data-source health on PostgreSQL', () => {
  const url = new URL(PG_SERVER_URL);
  url.pathname = `/market_cache_health_${randomBytes(4).toString('hex')}`;
  const dbUrl = url.toString();
  let app: TestApp | undefined;
  let closeForwarder: (() => Promise<void>) | undefined;
  let warn: ReturnType<typeof jest.spyOn>;
  let log: ReturnType<typeof jest.spyOn>;
  let error: ReturnType<typeof jest.spyOn>;

  beforeAll(async () => {
    await ensureDatabase(dbUrl);
    const pool = new Pool({ connectionString: dbUrl, max: 1 });
    try {
      await migrate(pool);
      await pool.query(
        `INSERT INTO tickers (ticker, name, currency, exchange) VALUES ('ACME', 'Acme', 'USD', 'TEST')`,
      );
      await pool.query(
        `INSERT INTO daily_bars (ticker, date, open, high, low, close, volume)
           SELECT 'ACME', d::date, 10, 11, 9, 10.5, 1000
             FROM generate_series(current_date - 20, current_date - 1, interval '1 day') AS d`,
      );
    } finally {
      await pool.end();
    }
  }, 60_000);

  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
    await closeForwarder?.();
    closeForwarder = undefined;
    jest.restoreAllMocks();
  });

  afterAll(() => dropDatabase(dbUrl), 30_000);

  it('started while PostgreSQL is down: comes up degraded (one line, no stack trace) and recovers once it starts, without a restart', async () => {
    const port = await freePort();
    const downUrl = new URL(dbUrl);
    downUrl.port = String(port);
    app = await startApp(
      testAppConfig({
        CACHE_DRIVER: 'memory',
        DATABASE_URL: downUrl.toString(),
        SOURCE_HEALTH_INTERVAL_MS: '100',
        SOURCE_RETRY_MAX_MS: '500',
      }),
    );
    const http = () => request(app!.server);

    const ready = (await http().get('/health/ready').expect(200)).body;
    expect(ready).toMatchObject({ status: 'degraded', reason: 'data_source_down' });
    expect(ready.error.source).toMatchObject({
      status: 'down',
      name: 'postgres',
      reason: 'connection refused (ECONNREFUSED)',
    });
    expect(JSON.stringify(ready)).not.toContain(String(port));
    await http().get('/api/stocks/ACME/price').expect(503);
    expect(sourceLines(warn)).toEqual([
      "market-data source 'postgres' is down (connection refused (ECONNREFUSED)): health degraded (data_source_down), cached data still served; retrying in the background",
    ]);
    const logged = [...warn.mock.calls, ...error.mock.calls].flat().map(String).join('\n');
    expect(logged).not.toMatch(/\n\s+at /);

    // PostgreSQL "starts": the background retries (back-off capped at 500 ms) reach it.
    closeForwarder = await openForwarder(port, Number(new URL(PG_SERVER_URL).port || 5432));
    await waitFor(async () => (await http().get('/health/ready')).body.status === 'ok', 15_000);
    const price = await http().get('/api/stocks/ACME/price').expect(200);
    expect(price.body).toMatchObject({ ticker: 'ACME', quote: { price: 10.5 } });
    expect(sourceLines(log)).toEqual(["market-data source 'postgres' is up again"]);
    expect(sourceLines(warn)).toHaveLength(1);
  }, 60_000);

  it('database dropped: health degraded with data_source_down at once, cached answers still 200, uncached 503', async () => {
    app = await startApp(
      testAppConfig({
        CACHE_DRIVER: 'memory',
        DATABASE_URL: dbUrl,
        SOURCE_HEALTH_INTERVAL_MS: '100',
      }),
    );
    const http = () => request(app!.server);
    await http().get('/api/stocks/ACME/price').expect(200);
    expect((await http().get('/api/stocks/ACME/price').expect(200)).headers['x-cache']).toBe('HIT');
    const before = (await http().get('/health/detailed').expect(200)).body;
    expect(before.status).toBe('ok');
    expect(before.services.source).toMatchObject({ status: 'up', name: 'postgres', reason: null });
    expect(typeof before.services.source.latency_ms).toBe('number');

    await dropDatabase(dbUrl);

    const detailed = (await http().get('/health/detailed').expect(200)).body;
    expect(detailed).toMatchObject({ status: 'degraded', reason: 'data_source_down' });
    expect(detailed.services.source).toMatchObject({
      status: 'down',
      reason: 'database does not exist (3D000)',
    });
    const ready = (await http().get('/health/ready').expect(200)).body;
    expect(ready).toMatchObject({ status: 'degraded', reason: 'data_source_down' });
    const cached = await http().get('/api/stocks/ACME/price').expect(200);
    expect(cached.headers['x-cache']).toBe('HIT');
    await http().get('/api/stocks/ACME/financials?period=quarterly&quarter=Q3').expect(503);
  }, 60_000);
});
