import {
  Controller,
  Get,
  Injectable,
  Module,
  Param,
  RequestMethod,
  UseGuards,
  type CallHandler,
  type CanActivate,
  type INestApplication,
  type MiddlewareConsumer,
  type NestInterceptor,
  type NestModule,
} from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import type { Observable } from 'rxjs';
import request from 'supertest';
import { CacheService } from '../../src/cache/cache.service.js';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import { MarketCacheModule } from '../../src/cache/market-cache.module.js';
import { CacheResponse } from '../../src/cache/http/cache-response.decorator.js';
import {
  HttpCacheFastPath,
  HttpCacheFastPathIndex,
} from '../../src/cache/http/http-cache.fast-path.js';
import { HttpCacheInterceptor } from '../../src/cache/http/http-cache.interceptor.js';
import { testRedis } from '../harness/test-env.js';
import { uniquePrefix } from '../support/cache-context.js';

const counts = { pipeline: 0, guard: 0, handler: 0 };

/** Counts every request that enters Nest's pipeline (a global interceptor). */
@Injectable()
class PipelineCounter implements NestInterceptor {
  intercept(_: unknown, next: CallHandler): Observable<unknown> {
    counts.pipeline++;
    return next.handle();
  }
}

@Injectable()
class CountingGuard implements CanActivate {
  canActivate(): boolean {
    counts.guard++;
    return true;
  }
}

@Controller('fp')
class FastPathController {
  @Get('open/:ticker')
  @CacheResponse({ keyType: CacheKeyType.STOCK_PRICE })
  open(@Param('ticker') ticker: string) {
    counts.handler++;
    return { ticker, price: 10 };
  }

  @Get('guarded/:ticker')
  @UseGuards(CountingGuard)
  @CacheResponse({ keyType: CacheKeyType.STOCK_PRICE })
  guarded(@Param('ticker') ticker: string) {
    counts.handler++;
    return { ticker, guarded: true };
  }

  @Get('mine/:ticker')
  @CacheResponse({ varyBy: 'user' })
  mine(@Param('ticker') ticker: string) {
    counts.handler++;
    return { ticker, mine: true };
  }
}

@Module({
  imports: [
    MarketCacheModule.forRoot({
      redisUrl: testRedis().url,
      keyPrefix: uniquePrefix('fp'),
      isGlobal: true,
    }),
  ],
  controllers: [FastPathController],
  providers: [
    CountingGuard,
    HttpCacheFastPathIndex,
    { provide: APP_INTERCEPTOR, useClass: PipelineCounter },
    { provide: APP_INTERCEPTOR, useClass: HttpCacheInterceptor },
  ],
})
class FastPathFixture implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpCacheFastPath).forRoutes({ path: '{*splat}', method: RequestMethod.ALL });
  }
}

describe('HTTP cache fast path', () => {
  let app: INestApplication;
  let http: ReturnType<typeof request>;
  const reset = () => Object.assign(counts, { pipeline: 0, guard: 0, handler: 0 });

  beforeAll(async () => {
    app = (
      await Test.createTestingModule({ imports: [FastPathFixture] }).compile()
    ).createNestApplication();
    await app.init();
    http = request(app.getHttpServer());
  });
  afterAll(() => app.close());
  beforeEach(reset);

  it('answers repeat anonymous GETs of a cached URL without entering the pipeline, with the same body and headers', async () => {
    const first = await http.get('/fp/open/AAPL').expect(200);
    expect(first.headers['x-cache']).toBe('MISS');
    expect(counts).toEqual({ pipeline: 1, guard: 0, handler: 1 });
    const second = await http.get('/fp/open/AAPL').expect(200);
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.body).toEqual(first.body);
    expect(second.headers.etag).toBe(first.headers.etag);
    expect(second.headers['content-type']).toMatch(/^application\/json/);
    expect(second.headers['cache-control']).toMatch(/^max-age=\d+$/);
    await http.get('/fp/open/AAPL').set('If-None-Match', first.headers.etag).expect(304);
    const head = await http.head('/fp/open/AAPL').expect(200);
    expect(head.headers['x-cache']).toBe('HIT');
    expect(counts).toEqual({ pipeline: 1, guard: 0, handler: 1 });
  });

  it('never bypasses a route guard', async () => {
    await http.get('/fp/guarded/MSFT').expect(200);
    const second = await http.get('/fp/guarded/MSFT').expect(200);
    expect(second.headers['x-cache']).toBe('HIT');
    expect(counts.guard).toBe(2);
    expect(counts.pipeline).toBe(2);
    expect(counts.handler).toBe(1);
  });

  it('never answers a request carrying credentials, or a per-user route', async () => {
    await http.get('/fp/open/NVDA').expect(200);
    reset();
    await http.get('/fp/open/NVDA').set('Authorization', 'Bearer abc').expect(200);
    await http.get('/fp/open/NVDA').set('X-API-Key', 'k').expect(200);
    expect(counts.pipeline).toBe(2);
    await http.get('/fp/mine/NVDA').expect(200);
    await http.get('/fp/mine/NVDA').expect(200);
    expect(counts.pipeline).toBe(4);
  });

  it('stops answering as soon as the entry is invalidated', async () => {
    await http.get('/fp/open/AMZN').expect(200);
    await http.get('/fp/open/AMZN').expect(200);
    expect(counts.handler).toBe(1);
    await app.get(CacheService).flushPattern('stock_price:AMZN:*');
    const after = await http.get('/fp/open/AMZN').expect(200);
    expect(after.headers['x-cache']).toBe('MISS');
    expect(counts.handler).toBe(2);
  });
});
