import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { loadAppConfig } from '../../config/app-config.js';
import { AppModule } from '../../src/app.module.js';
import { MARKET_CACHE_STORE } from '../../src/cache/constants.js';
import { MemoryStore } from '../../src/cache/stores/memory-store.js';
import { configureApp } from '../../src/configure-app.js';

describe('the app on the embedded default (no Redis setting at all)', () => {
  let app: INestApplication;
  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forConfig(loadAppConfig({}))],
    }).compile();
    app = configureApp(moduleRef.createNestApplication());
    await app.init();
  });
  afterAll(() => app.close());

  it('runs on MemoryStore and answers quotes from cache on the second call', async () => {
    expect(app.get(MARKET_CACHE_STORE)).toBeInstanceOf(MemoryStore);
    const first = await request(app.getHttpServer()).get('/api/stocks/AAPL/price').expect(200);
    expect(first.headers['x-cache']).toBe('MISS');
    expect(first.body).toMatchObject({ ticker: 'AAPL' });
    expect(typeof first.body.asOf).toBe('string');
    const second = await request(app.getHttpServer()).get('/api/stocks/AAPL/price').expect(200);
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.body).toEqual(first.body);
  });

  it('is ready and live', async () => {
    await request(app.getHttpServer()).get('/health/live').expect(200);
    const ready = await request(app.getHttpServer()).get('/health/ready').expect(200);
    expect(JSON.stringify(ready.body)).not.toMatch(/redis:\/\//);
  });
});
