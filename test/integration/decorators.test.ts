import { Inject, Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { CacheService } from '../../src/cache/cache.service.js';
import { CacheEvict, Cacheable } from '../../src/cache/decorators/cacheable.decorator.js';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import { MarketCacheModule } from '../../src/cache/market-cache.module.js';
import { testRedis } from '../harness/test-env.js';
import { uniquePrefix } from '../support/cache-context.js';

@Injectable()
class QuoteService {
  calls = 0;
  failures = 0;
  constructor(@Inject(CacheService) readonly cache: CacheService) {}

  @Cacheable({ key: 'quote:{ticker}', keyType: CacheKeyType.STOCK_PRICE, ttl: '1m' })
  async quote(ticker: string): Promise<{ ticker: string; calls: number; self: boolean }> {
    this.calls++;
    return { ticker, calls: this.calls, self: this instanceof QuoteService };
  }

  @Cacheable({ key: 'product:{0}:{1}', namespace: 'products' })
  async product(id: number, region: string): Promise<string> {
    this.calls++;
    return `${id}-${region}-${this.calls}`;
  }

  @Cacheable({ key: (ticker: string) => `market_data:flaky:${ticker}` })
  async flaky(ticker: string): Promise<string> {
    this.failures++;
    if (this.failures === 1) throw new Error('source down');
    return `${ticker}-ok`;
  }

  @CacheEvict({ key: 'quote:{ticker}', keyType: CacheKeyType.STOCK_PRICE })
  async updateQuote(ticker: string): Promise<string> {
    return ticker;
  }

  @CacheEvict({ namespace: 'products' })
  async clearProducts(): Promise<void> {}
}

@Module({
  imports: [
    MarketCacheModule.forRoot({
      redisUrl: testRedis().url,
      keyPrefix: uniquePrefix('dec'),
      isGlobal: true,
    }),
  ],
  providers: [QuoteService],
})
class FixtureModule {}

describe('@Cacheable / @CacheEvict', () => {
  it('caches by argument, keeps `this`, never caches a throw, and evicts', async () => {
    const app = await (
      await Test.createTestingModule({ imports: [FixtureModule] }).compile()
    ).init();
    try {
      const svc = app.get(QuoteService);
      const cache = app.get(CacheService);
      expect(await svc.quote('AAPL')).toEqual({ ticker: 'AAPL', calls: 1, self: true });
      expect(await svc.quote('AAPL')).toEqual({ ticker: 'AAPL', calls: 1, self: true });
      expect(await svc.quote('MSFT')).toMatchObject({ calls: 2 });
      expect((await cache.lookup('stock_price:quote:AAPL')).success).toBe(true);

      expect(await svc.quote('A*B')).toMatchObject({ ticker: 'A*B' });
      expect((await cache.lookup('stock_price:quote:A%2AB')).success).toBe(true);

      const p1 = await svc.product(7, 'eu');
      expect(await svc.product(7, 'eu')).toBe(p1);
      await svc.clearProducts();
      expect(await svc.product(7, 'eu')).not.toBe(p1);

      await expect(svc.flaky('X')).rejects.toThrow('source down');
      expect(await svc.flaky('X')).toBe('X-ok');
      expect(svc.failures).toBe(2);

      await svc.updateQuote('AAPL');
      expect(await svc.quote('AAPL')).toMatchObject({ calls: svc.calls });
    } finally {
      await app.close();
    }
  });
});
