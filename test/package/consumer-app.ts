/**
 * The sources of a fresh Nest 12 app that installs the packed library as a user would: its own
 * package.json and tsconfig.json, a service that injects `CacheService`, a `main.ts` that boots
 * on Redis through `forRootAsync` + `@nestjs/config`, and a `unit-check.ts` written like a
 * user's unit test on `MarketCacheTestingModule` (no Redis). Each entry prints one JSON line.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from './offline-lock.js';

/** Nest and the tools this app needs itself (all in the repository's lock, so in the npm cache). */
export function consumerManifest(librarySpec: string): Manifest {
  return {
    name: 'consumer-app',
    dependencies: {
      '@nestjs/common': '^12.0.0',
      '@nestjs/config': '^12.0.0',
      '@nestjs/core': '^12.0.0',
      '@nestjs/testing': '^12.0.0',
      'market-cache': librarySpec,
      'reflect-metadata': '^0.2.0',
      rxjs: '^7.8.0',
    },
    devDependencies: { '@types/node': '^20.0.0', typescript: '^5.9.0' },
  };
}

const TSCONFIG = {
  compilerOptions: {
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'ES2022',
    lib: ['ES2023'],
    strict: true,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    // The library's .d.ts files are checked too: a broken declaration fails the build.
    skipLibCheck: false,
    types: ['node'],
    rootDir: 'src',
    outDir: 'dist',
  },
  include: ['src'],
};

const QUOTE_SERVICE = `import { Inject, Injectable } from '@nestjs/common';
import { CacheService } from 'market-cache';

export interface Quote {
  ticker: string;
  price: number;
}

/** The user's own service: a quote from a slow source, behind the cache. */
@Injectable()
export class QuoteService {
  sourceCalls = 0;
  constructor(@Inject(CacheService) private readonly cache: CacheService) {}

  quote(ticker: string): Promise<Quote> {
    return this.cache.getOrSet(this.cache.keys.stockPrice(ticker), async () => {
      this.sourceCalls++;
      return { ticker, price: 100 + this.sourceCalls };
    });
  }
}
`;

const APP_MODULE = `import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { MarketCacheModule } from 'market-cache';
import { QuoteService } from './quote.service.js';

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }),
    MarketCacheModule.forRootAsync({
      isGlobal: true,
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        redisUrl: config.getOrThrow<string>('REDIS_URL'),
        keyPrefix: config.get<string>('CACHE_KEY_PREFIX', 'consumer'),
      }),
    }),
  ],
  providers: [QuoteService],
})
export class AppModule {}
`;

const MAIN = `import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { CacheKeyType, CacheService, MARKET_CACHE_STORE, type CacheStore } from 'market-cache';
import { AppModule } from './app.module.js';
import { QuoteService } from './quote.service.js';

const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
const quotes = app.get(QuoteService);
const first = await quotes.quote('7203');
const second = await quotes.quote('7203');
const counters = app.get(CacheService).countersOf(CacheKeyType.STOCK_PRICE);
const store = app.get<CacheStore>(MARKET_CACHE_STORE).describe().kind;
await app.close();
console.log(JSON.stringify({ first, second, sourceCalls: quotes.sourceCalls, factoryCalls: counters.factoryCalls, l1Hits: counters.l1Hits, store }));
`;

const UNIT_CHECK = `import 'reflect-metadata';
import { Test } from '@nestjs/testing';
import { CacheManager, CacheService, MARKET_CACHE_STORE, TieredCache, type CacheStore } from 'market-cache';
import { CacheTestClock, MarketCacheTestingModule } from 'market-cache/testing';
import { QuoteService } from './quote.service.js';

const moduleRef = await Test.createTestingModule({
  imports: [MarketCacheTestingModule.forRoot({ ttlSeconds: { stock_price: 100 }, startAt: Date.UTC(2026, 0, 5, 9) })],
  providers: [QuoteService],
}).compile();
const quotes = moduleRef.get(QuoteService);
const cache = moduleRef.get(CacheService);
const clock = moduleRef.get(CacheTestClock);
const key = cache.keys.stockPrice('7203');
const out: Record<string, unknown> = { store: moduleRef.get<CacheStore>(MARKET_CACHE_STORE).describe().kind };

out.miss = await quotes.quote('7203');
out.hit = await quotes.quote('7203');
out.callsAfterHit = quotes.sourceCalls;
clock.advanceSeconds(85); // in the SWR window: the last 20 % of the 100 s TTL
out.staleLookup = (await cache.lookup(key)).source;
out.stale = await quotes.quote('7203');
await moduleRef.get(TieredCache).drain(); // the background refresh
out.refreshed = await quotes.quote('7203');
out.callsAfterRefresh = quotes.sourceCalls;
out.invalidated = await moduleRef.get(CacheManager).invalidateStockCache('7203');
out.afterInvalidation = await quotes.quote('7203');
clock.advanceSeconds(100 + 900); // past the TTL and the stock-price max staleness
out.expiredLookup = (await cache.lookup(key)).success;
await moduleRef.close();
out.clockRestored = Math.abs(Date.now() - (performance.timeOrigin + performance.now())) < 60_000;
console.log(JSON.stringify(out));
`;

/** Writes the app into `dir` (which must exist); answers its manifest. */
export function writeConsumerApp(dir: string, librarySpec: string): Manifest {
  const manifest = consumerManifest(librarySpec);
  const pkg = { ...manifest, private: true, type: 'module' };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'src', 'quote.service.ts'), QUOTE_SERVICE);
  writeFileSync(join(dir, 'src', 'app.module.ts'), APP_MODULE);
  writeFileSync(join(dir, 'src', 'main.ts'), MAIN);
  writeFileSync(join(dir, 'src', 'unit-check.ts'), UNIT_CHECK);
  return manifest;
}
