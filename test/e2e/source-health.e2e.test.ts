/**
 * Health of the data source and of the file store through the app's routes (issue 15), without
 * PostgreSQL: a source whose health is switched off and on (the PostgreSQL suite drops a real
 * database), a CACHE_FILE_DIR that is a file, and a file store whose disk fills up.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { jest } from '@jest/globals';
import { Logger, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { loadAppConfig } from '../../config/app-config.js';
import { MARKET_CACHE_STORE } from '../../src/cache/constants.js';
import { FileStore, type FileStoreFs } from '../../src/cache/stores/file/file-store.js';
import { TieredCache } from '../../src/cache/tiered/tiered-cache.js';
import { AppModule } from '../../src/app.module.js';
import { configureApp } from '../../src/configure-app.js';
import { MarketDataError } from '../../src/market/providers/market-data.errors.js';
import {
  MARKET_DATA_PROVIDER,
  type SourceHealth,
} from '../../src/market/providers/market-data.provider.js';
import { SyntheticMarketDataProvider } from '../../src/market/providers/synthetic.provider.js';
import { waitFor } from '../support/cache-context.js';

/** The synthetic source with a switch: while `down`, health says so and every data call fails. */
class SwitchableSource extends SyntheticMarketDataProvider {
  down = false;

  override async health(): Promise<SourceHealth> {
    return this.down ? { status: 'down', reason: 'switched off' } : super.health();
  }

  override async getQuote(ticker: string) {
    if (this.down) throw new MarketDataError('SOURCE_UNAVAILABLE', 'switched off');
    return super.getQuote(ticker);
  }
}

/** Starts the app from environment-style settings, with providers replaced by the given factories. */
async function start(
  env: Record<string, string>,
  overrides: Array<[string, () => unknown]> = [],
): Promise<INestApplication> {
  let builder = Test.createTestingModule({ imports: [AppModule.forConfig(loadAppConfig(env))] });
  for (const [token, factory] of overrides)
    builder = builder.overrideProvider(token).useFactory({ factory });
  const app = (await builder.compile()).createNestApplication({ logger: ['error', 'warn'] });
  configureApp(app);
  await app.init();
  return app;
}

describe('data-source health through /health', () => {
  let app: INestApplication;
  const source = new SwitchableSource();
  let warn: ReturnType<typeof jest.spyOn>;
  let log: ReturnType<typeof jest.spyOn>;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    app = await start({ CACHE_DRIVER: 'memory', SOURCE_HEALTH_INTERVAL_MS: '100' }, [
      [MARKET_DATA_PROVIDER, () => source],
    ]);
  });
  afterAll(async () => {
    await app?.close();
    warn.mockRestore();
    log.mockRestore();
  });

  const sourceLines = (spy: { mock: { calls: unknown[][] } }) =>
    spy.mock.calls.map((c) => String(c[0])).filter((m) => m.includes('market-data source'));

  it('reports the source up, then degraded with data_source_down while it is down (cached answers still 200), then up again', async () => {
    const up = (await http().get('/health/detailed').expect(200)).body;
    expect(up.status).toBe('ok');
    expect(up.reason).toBeUndefined();
    expect(up.services.source).toMatchObject({ status: 'up', name: 'synthetic', reason: null });
    expect((await http().get('/health/ready').expect(200)).body.details.source).toMatchObject({
      status: 'up',
      name: 'synthetic',
    });
    await http().get('/api/stocks/AAPL/price').expect(200);

    source.down = true;
    // /health/detailed checks live: degraded at once.
    const detailed = (await http().get('/health/detailed').expect(200)).body;
    expect(detailed).toMatchObject({ status: 'degraded', reason: 'data_source_down' });
    expect(detailed.reasons).toEqual(['data_source_down']);
    expect(detailed.services.source).toMatchObject({
      status: 'down',
      name: 'synthetic',
      reason: 'switched off',
    });
    expect(typeof detailed.services.source.last_error_at).toBe('string');
    // /health/ready answers from memory: 200 (the app still serves cached data), degraded.
    const ready = (await http().get('/health/ready').expect(200)).body;
    expect(ready).toMatchObject({ status: 'degraded', reason: 'data_source_down' });
    expect(ready.error.source).toMatchObject({ status: 'down', reason: 'switched off' });
    const cached = await http().get('/api/stocks/AAPL/price').expect(200);
    expect(cached.headers['x-cache']).toBe('HIT');
    await http().get('/api/stocks/MSFT/price').expect(503);
    expect(sourceLines(warn)).toHaveLength(1);
    expect(sourceLines(warn)[0]).toMatch(/'synthetic' is down \(switched off\)/);
    expect(sourceLines(warn)[0]).not.toMatch(/\n\s+at /);

    // The background check (every 100 ms) notices the recovery without a request to /detailed.
    source.down = false;
    await waitFor(async () => (await http().get('/health/ready')).body.status === 'ok', 5000);
    expect(sourceLines(log)).toEqual(["market-data source 'synthetic' is up again"]);
    expect(sourceLines(warn)).toHaveLength(1);
  });
});

describe('file-store health through /health', () => {
  let sandbox: string;
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    sandbox = await fsp.mkdtemp(path.join(os.tmpdir(), 'file-health-e2e-'));
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await fsp.rm(sandbox, { recursive: true, force: true });
  });

  it('a CACHE_FILE_DIR that is a file: ready 200 degraded with file_store_down at start, file listed down, Redis not listed as up', async () => {
    const file = path.join(sandbox, 'not-a-dir');
    await fsp.writeFile(file, 'x');
    const app = await start({ CACHE_DRIVER: 'file', CACHE_FILE_DIR: file });
    apps.push(app);
    const ready = (await request(app.getHttpServer()).get('/health/ready').expect(200)).body;
    expect(ready).toMatchObject({ status: 'degraded', reason: 'file_store_down' });
    expect(ready.details.redis).toBeUndefined();
    expect(ready.error.file).toMatchObject({
      status: 'down',
      ready: false,
      reason: 'file_store_down: not a directory (ENOTDIR)',
    });
    const detailed = (await request(app.getHttpServer()).get('/health/detailed').expect(200)).body;
    expect(detailed).toMatchObject({ status: 'degraded', reason: 'file_store_down' });
    expect(detailed.services.redis.status).toBe('not_configured');
    expect(detailed.services.file).toMatchObject({
      status: 'down',
      ready: false,
      reason: 'file_store_down: not a directory (ENOTDIR)',
    });
    // The app still answers from its source.
    await request(app.getHttpServer()).get('/api/stocks/AAPL/price').expect(200);
  });

  it('an injected ENOSPC: the failing write turns ready and detailed degraded at once; a successful write clears it', async () => {
    const dir = path.join(sandbox, 'cache');
    const full = { on: false };
    const writeFile: FileStoreFs['writeFile'] = async (file, data, options) => {
      if (full.on) throw Object.assign(new Error('ENOSPC: simulated'), { code: 'ENOSPC' });
      return fsp.writeFile(file, data, options);
    };
    const fs: FileStoreFs = {
      open: (f, flags) => fsp.open(f, flags),
      readFile: (f) => fsp.readFile(f),
      writeFile,
      rename: (a, b) => fsp.rename(a, b),
      unlink: (f) => fsp.unlink(f),
      readdir: (d) => fsp.readdir(d),
      stat: (f) => fsp.stat(f),
      mkdir: (d, o) => fsp.mkdir(d, o),
    };
    const app = await start({ CACHE_DRIVER: 'file', CACHE_FILE_DIR: dir }, [
      [
        MARKET_CACHE_STORE,
        async () => {
          const store = new FileStore({ directory: dir, fs, healthProbeIntervalMs: 0 });
          await store.connect();
          return store;
        },
      ],
    ]);
    apps.push(app);
    const http = () => request(app.getHttpServer());
    expect((await http().get('/health/ready').expect(200)).body).toMatchObject({
      status: 'ok',
      details: { file: { status: 'up', state: 'up' } },
    });

    full.on = true;
    await http().get('/api/stocks/AAPL/price').expect(200); // served; its cache write fails
    await app.get(TieredCache).drain(); // the L2 write runs after the answer: wait for it, no probe
    const ready = (await http().get('/health/ready').expect(200)).body;
    expect(ready).toMatchObject({ status: 'degraded', reason: 'file_store_rejecting_writes' });
    expect(ready.info.file).toMatchObject({
      status: 'degraded',
      reason: 'file_store_rejecting_writes: disk full (ENOSPC)',
    });
    const detailed = (await http().get('/health/detailed').expect(200)).body;
    expect(detailed.reasons).toEqual(['file_store_rejecting_writes']);
    expect(detailed.services.file).toMatchObject({ status: 'degraded', ready: true });

    full.on = false;
    await http().get('/api/stocks/MSFT/price').expect(200); // this write succeeds
    await app.get(TieredCache).drain();
    expect((await http().get('/health/ready').expect(200)).body.status).toBe('ok');
  });
});
