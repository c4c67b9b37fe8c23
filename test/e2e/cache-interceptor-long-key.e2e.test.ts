/**
 * Nest's stock `CacheInterceptor` over `CACHE_MANAGER` (CacheManagerCompatModule) caches URLs of
 * any length: a 4 KB URL is stored (digest form), answered as a HIT on the next request, by this
 * instance and by another one sharing Redis, and a pattern flush of the namespace removes it.
 */
import { CacheInterceptor } from '@nestjs/cache-manager';
import {
  Controller,
  Get,
  Inject,
  Injectable,
  Query,
  UseInterceptors,
  type INestApplication,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import request from 'supertest';
import { CacheService } from '../../src/cache/cache.service.js';
import { CacheManagerCompatModule } from '../../src/cache/compat/cache-manager-compat.module.js';
import { MarketCacheModule } from '../../src/cache/market-cache.module.js';
import { testRedis } from '../harness/test-env.js';
import { uniquePrefix } from '../support/cache-context.js';

/** Counts handler runs. */
@Injectable()
class SearchRuns {
  n = 0;
}

/** A search route cached by the stock interceptor, keyed by its URL. */
@Controller('search')
@UseInterceptors(CacheInterceptor)
class SearchController {
  constructor(@Inject(SearchRuns) private readonly runs: SearchRuns) {}

  @Get()
  search(@Query('q') q: string) {
    return { length: q.length, run: ++this.runs.n };
  }
}

async function startApp(prefix: string): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      MarketCacheModule.forRoot({ redisUrl: testRedis().url, keyPrefix: prefix, isGlobal: true }),
      CacheManagerCompatModule.register(),
    ],
    controllers: [SearchController],
    providers: [SearchRuns],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
  await app.init();
  return app;
}

describe("a 4 KB URL through Nest's stock CacheInterceptor", () => {
  let prefix: string;
  let a: INestApplication;
  let b: INestApplication;
  let raw: Redis;
  const url = '/search?q=' + 'abc%20def*'.repeat(410); // ≈ 4.1 KB, escaped characters included

  beforeAll(async () => {
    prefix = uniquePrefix('ilk');
    a = await startApp(prefix);
    b = await startApp(prefix);
    raw = new Redis(testRedis().url);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    raw.disconnect();
  });

  it('is cached: the second request is a HIT, also on another instance; a namespace flush removes it', async () => {
    expect(url.length).toBeGreaterThan(4096);
    const first = await request(a.getHttpServer()).get(url).expect(200);
    expect(first.headers['x-cache']).toBe('MISS');
    const second = await request(a.getHttpServer()).get(url).expect(200);
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.body).toEqual(first.body);
    expect(a.get(SearchRuns).n).toBe(1);

    // Another instance sharing Redis: its L1 is cold, so this HIT comes from Redis.
    const other = await request(b.getHttpServer()).get(url).expect(200);
    expect(other.headers['x-cache']).toBe('HIT');
    expect(other.body).toEqual(first.body);
    expect(b.get(SearchRuns).n).toBe(0);

    const keys = await raw.keys(`${prefix}:cache_manager:*`);
    expect(keys).toHaveLength(1);
    expect(keys[0].length).toBeLessThan(1100);

    expect(await a.get(CacheService).flushPattern('cache_manager:*')).toBe(1);
    const after = await request(b.getHttpServer()).get(url).expect(200);
    expect(after.headers['x-cache']).toBe('MISS');
    expect(b.get(SearchRuns).n).toBe(1);
  });
});
