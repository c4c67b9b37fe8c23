import {
  Controller,
  Get,
  Headers,
  Inject,
  Injectable,
  InternalServerErrorException,
  Module,
  Param,
  Query,
  Res,
  StreamableFile,
  type DynamicModule,
} from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { CacheKeyType } from '../../../src/cache/keys/cache-key-type.js';
import { MarketCacheModule } from '../../../src/cache/market-cache.module.js';
import { CacheMetrics } from '../../../src/cache/metrics/cache-metrics.js';
import { MetricsController } from '../../../src/cache/metrics/metrics.controller.js';
import { CacheResponse } from '../../../src/cache/http/cache-response.decorator.js';
import { HttpCacheInterceptor } from '../../../src/cache/http/http-cache.interceptor.js';
import { PreparedResponse } from '../../../src/cache/http/prepared-response.js';

/** Counts handler runs per route, so a test can tell a cache hit from a handler call. */
@Injectable()
export class HandlerCalls {
  private readonly calls = new Map<string, number>();

  /** Counts one run of `route`; answers the run's number (1, 2, …). */
  count(route: string): number {
    const n = (this.calls.get(route) ?? 0) + 1;
    this.calls.set(route, n);
    return n;
  }

  /** How many times `route` ran. */
  of(route: string): number {
    return this.calls.get(route) ?? 0;
  }
}

interface PassthroughResponse {
  status(code: number): unknown;
  setHeader(name: string, value: string): unknown;
}

/** One route per scenario of the HTTP cache interceptor. */
@Controller('t')
export class HttpCacheTestController {
  constructor(@Inject(HandlerCalls) private readonly calls: HandlerCalls) {}

  /** Cached per ticker and (sorted, whitelisted) query. */
  @Get('quotes/:ticker')
  @CacheResponse({ keyType: CacheKeyType.STOCK_PRICE, query: ['currency', 'fields'] })
  quote(@Param('ticker') ticker: string, @Query('currency') currency?: string) {
    const n = this.calls.count('quote');
    return { ticker, currency: currency ?? 'USD', price: 100 + n, run: n };
  }

  /** A slow cold path, for the stampede test. */
  @Get('slow')
  @CacheResponse({ ttl: '1m' })
  async slow() {
    const n = this.calls.count('slow');
    await new Promise((r) => setTimeout(r, 200));
    return { run: n };
  }

  /** Always fails with a 500. */
  @Get('fail')
  @CacheResponse()
  fail(): never {
    this.calls.count('fail');
    throw new InternalServerErrorException('handler failed');
  }

  /** Answers 503 with a body, without throwing. */
  @Get('status')
  @CacheResponse()
  status(@Res({ passthrough: true }) res: PassthroughResponse) {
    res.status(503);
    return { run: this.calls.count('status') };
  }

  /** Personal: cached per caller identity. */
  @Get('me')
  @CacheResponse({ varyBy: 'user' })
  me(@Headers('authorization') authorization?: string) {
    return { user: authorization ?? 'anonymous', run: this.calls.count('me') };
  }

  /** Sets a cookie: never cached. */
  @Get('cookie')
  @CacheResponse()
  cookie(@Res({ passthrough: true }) res: PassthroughResponse) {
    res.setHeader('Set-Cookie', 'sid=abc; HttpOnly');
    return { run: this.calls.count('cookie') };
  }

  /** Streamed: never cached. */
  @Get('file')
  @CacheResponse()
  file(): StreamableFile {
    this.calls.count('file');
    return new StreamableFile(Buffer.from('hello'));
  }

  /** Prepared JSON bytes its handler asks not to store, slow enough for concurrent requests to share one run. */
  @Get('prepared-unstored')
  @CacheResponse()
  async preparedUnstored() {
    const n = this.calls.count('prepared-unstored');
    await new Promise((r) => setTimeout(r, 100));
    return new PreparedResponse(`{"run":${n}}`, {
      source: 'factory',
      maxAgeSeconds: 60,
      store: false,
      headers: { 'X-Prepared': 'yes' },
    });
  }

  /** Not marked: the interceptor leaves it alone. */
  @Get('plain')
  plain() {
    return { run: this.calls.count('plain') };
  }
}

/** Scenario app of `edge.e2e.test.ts`: the market cache on a harness Redis, the interceptor (global), metrics. */
@Module({})
export class HttpCacheFixtureModule {
  static forRedis(redisUrl: string, keyPrefix: string): DynamicModule {
    return {
      module: HttpCacheFixtureModule,
      imports: [MarketCacheModule.forRoot({ redisUrl, keyPrefix, isGlobal: true })],
      controllers: [HttpCacheTestController, MetricsController],
      providers: [
        HandlerCalls,
        CacheMetrics,
        { provide: APP_INTERCEPTOR, useClass: HttpCacheInterceptor },
      ],
    };
  }
}

/** A `@CacheResponse` route outside the edge module, served by the app's global interceptor. */
@Controller('api/fixture')
export class AppCachedController {
  private runs = 0;

  @Get('quote/:ticker')
  @CacheResponse({ keyType: CacheKeyType.STOCK_PRICE })
  quote(@Param('ticker') ticker: string) {
    return { ticker, run: ++this.runs };
  }
}

/** Adds `AppCachedController` to the whole app (`AppModule`), for `edge.e2e.test.ts`. */
@Module({ controllers: [AppCachedController] })
export class AppCachedRouteModule {}
