/**
 * CacheKeyBuilder, the one place every stored key is built: the prefix it accepts, escaping and
 * its reverse, which whole keys a developer may pass, the internal keys under `{prefix}:!`, and the
 * entity matcher behind invalidation. Every test builds its own builder.
 */
import { CacheValidationError } from '../../src/cache/errors/cache-errors.js';
import { CacheKeyBuilder, MAX_KEY_LENGTH } from '../../src/cache/keys/cache-key-builder.js';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';

describe('CacheKeyBuilder', () => {
  it('uses the prefix mc by default and takes dotted, dashed and colon-separated prefixes', () => {
    expect(new CacheKeyBuilder().storageKey('stock_price:AAPL:latest')).toBe(
      'mc:stock_price:AAPL:latest',
    );
    for (const prefix of ['app', 'tenant-1:prod', 'a.b_c']) {
      expect(new CacheKeyBuilder(prefix).prefix).toBe(prefix);
    }
  });

  it.each(['', 'a b', 'a*', 'a:', ':a', 'a::b', 'é'])(
    'refuses the prefix %p, naming keyPrefix',
    (prefix) => {
      const attempt = (): CacheKeyBuilder => new CacheKeyBuilder(prefix);
      expect(attempt).toThrow(CacheValidationError);
      expect(attempt).toThrow(
        expect.objectContaining({
          field: 'keyPrefix',
          message: `keyPrefix '${prefix}' must be letters, digits, '_', '.', '-' in ':'-separated parts`,
        }),
      );
    },
  );

  it('escapes separators, globs, white space and control characters one-to-one, and reverses it', () => {
    const raw = 'a:b*c?d[e]f\\g h%i\tj\x01k\x7f';
    const escaped = CacheKeyBuilder.escape(raw);
    expect(escaped).toBe('a%3Ab%2Ac%3Fd%5Be%5Df%5Cg%20h%25i%09j%01k%7F');
    expect(CacheKeyBuilder.unescape(escaped)).toBe(raw);
    // Only a percent sign followed by two upper-case hex digits is an escape.
    expect(CacheKeyBuilder.unescape('100%-%4 %zz %3a %41')).toBe('100%-%4 %zz %3a A');
    expect(CacheKeyBuilder.escape(42)).toBe('42');
  });

  it('builds the named keys with every caller segment escaped', () => {
    const k = new CacheKeyBuilder('t');
    expect(k.stockPrice('BRK:B')).toBe('stock_price:BRK%3AB:latest');
    expect(k.financialData('AAPL', 'annual', 'Q*')).toBe('financial_data:AAPL:annual:Q%2A');
    expect(k.aiAnalysis('MSFT', 'risk score')).toBe('ai_analysis:MSFT:risk%20score');
    expect(k.newsData('TSLA', 'earnings')).toBe('news_data:TSLA:earnings');
    expect(k.userSession('u:1')).toBe('user_session:u%3A1');
    expect(k.apiQuota('u1', 'daily')).toBe('api_quota:u1:daily');
    expect(k.priceBarDay('AAPL', '2024-01-02')).toBe('price_bars:AAPL:2024-01-02');
    expect(k.priceBarMonth('AAPL', '2024-01')).toBe('price_bars:AAPL:2024-01');
    expect(k.tradeDay('sig', '2024-01-02')).toBe('market_data:trades:sig:2024-01-02');
    expect(k.tradeDay('sig', '2024-01-02', 3)).toBe('market_data:trades:sig:2024-01-02:3');
  });

  describe('assertLogicalKey', () => {
    it(`accepts a key of 1 to ${MAX_KEY_LENGTH} characters`, () => {
      const k = new CacheKeyBuilder();
      expect(() => k.assertLogicalKey('x')).not.toThrow();
      expect(() => k.assertLogicalKey('x'.repeat(MAX_KEY_LENGTH))).not.toThrow();
      expect(() => k.assertLogicalKey('a!b')).not.toThrow();
    });

    it.each([
      ['empty', ''],
      ['too long', 'x'.repeat(MAX_KEY_LENGTH + 1)],
      ['not a string', 7 as unknown as string],
    ])('refuses a key that is %s, naming the field given', (_label, key) => {
      const k = new CacheKeyBuilder();
      const expected = expect.objectContaining({
        code: 'CACHE_INVALID_KEY',
        field: 'keys[2]',
        message: `keys[2] must be a non-empty string of at most ${MAX_KEY_LENGTH} characters`,
      });
      expect(() => k.assertLogicalKey(key, 'keys[2]')).toThrow(expected);
      expect(() => k.assertLogicalKey(key)).toThrow(expect.objectContaining({ field: 'key' }));
    });

    it.each(['a*b', 'a?b', 'a[b', 'a]b', 'a\\b', 'a b', 'a\nb', '!lock:x'])(
      'refuses %p, which could widen a pattern or reach an internal key',
      (key) => {
        const k = new CacheKeyBuilder();
        expect(() => k.assertLogicalKey(key)).toThrow(
          expect.objectContaining({
            code: 'CACHE_INVALID_KEY',
            field: 'key',
            message:
              "key contains '*', '?', '[', ']', '\\', white space or a leading '!'; build it with CacheKeyBuilder",
          }),
        );
      },
    );
  });

  it('stores keys under the prefix, or under a namespace head at its version', () => {
    const k = new CacheKeyBuilder('p');
    expect(k.storageKey('news_data:A:b')).toBe('p:news_data:A:b');
    expect(k.storageKey('news_data:A:b', { name: 'tenant:1', version: 'v3' })).toBe(
      'p:!ns:tenant%3A1:v3:news_data:A:b',
    );
    expect(k.resolve('news_data:A:b', undefined, k.namespaceHead('n', '7'))).toEqual({
      storageKey: 'p:!ns:n:7:news_data:A:b',
      type: CacheKeyType.NEWS_DATA,
    });
    expect(k.resolve('custom:thing', CacheKeyType.MARKET_DATA)).toEqual({
      storageKey: 'p:custom:thing',
      type: CacheKeyType.MARKET_DATA,
    });
    expect(() => k.resolve('bad key', undefined, undefined, 'items[0].key')).toThrow(
      expect.objectContaining({ field: 'items[0].key' }),
    );
  });

  it('reads the logical key back only from a plain stored key of its own prefix', () => {
    const k = new CacheKeyBuilder('p');
    expect(k.logicalKeyOf('p:news_data:A')).toBe('news_data:A');
    expect(k.logicalKeyOf('q:news_data:A')).toBeUndefined();
    expect(k.logicalKeyOf('p:!lock:news_data:A')).toBeUndefined();
    expect(k.logicalKeyOf(k.storageKey('x', { name: 'n', version: '1' }))).toBeUndefined();
  });

  it('knows the type a logical key starts with, whole segment only', () => {
    const k = new CacheKeyBuilder();
    expect(k.typeOf('stock_price:AAPL:latest')).toBe(CacheKeyType.STOCK_PRICE);
    expect(k.typeOf('stock_price')).toBe(CacheKeyType.STOCK_PRICE);
    expect(k.typeOf('stock_prices:AAPL')).toBeUndefined();
    expect(k.typeOf(':stock_price')).toBeUndefined();
    expect(k.typeOf('custom:x')).toBeUndefined();
  });

  it('keeps internal keys under {prefix}:!, where no logical key can reach', () => {
    const k = new CacheKeyBuilder('app:eu');
    expect(k.lockKey('app:eu:stock_price:AAPL:latest')).toBe(
      'app:eu:!lock:stock_price:AAPL:latest',
    );
    expect(k.namespaceVersionKey('tenant:1')).toBe('app:eu:!nsv:tenant%3A1');
    expect(k.busChannel()).toBe('app:eu:!bus');
    expect(k.pattern('news_data:*')).toBe('app:eu:news_data:*');
    expect(k.allKeysPattern()).toBe('app:eu:*');
  });

  describe('entityMatcher', () => {
    it('of one entity: a SCAN pattern that covers it, and a test that trims look-alikes', () => {
      const k = new CacheKeyBuilder('p');
      const { pattern, matches } = k.entityMatcher(CacheKeyType.STOCK_PRICE, 'BRK:B');
      expect(pattern).toBe('p:stock_price:BRK%3AB*');
      expect(matches('p:stock_price:BRK%3AB')).toBe(true);
      expect(matches('p:stock_price:BRK%3AB:latest')).toBe(true);
      expect(matches('p:stock_price:BRK%3ABX:latest')).toBe(false);
      expect(matches('p:news_data:BRK%3AB:x')).toBe(false);
      expect(matches('q:stock_price:BRK%3AB')).toBe(false);
    });

    it('of one entity across types: only known key types match', () => {
      const k = new CacheKeyBuilder('p');
      const { pattern, matches } = k.entityMatcher(undefined, 'AAPL');
      expect(pattern).toBe('p:*:AAPL*');
      expect(matches('p:news_data:AAPL:x')).toBe(true);
      expect(matches('p:stock_price:AAPL')).toBe(true);
      expect(matches('p:custom:AAPL')).toBe(false);
      expect(matches('p:!lock:AAPL')).toBe(false);
    });

    it('of a whole type: every entity of it, nothing shorter than type:entity', () => {
      const k = new CacheKeyBuilder('p');
      const { pattern, matches } = k.entityMatcher(CacheKeyType.NEWS_DATA);
      expect(pattern).toBe('p:news_data:*');
      expect(matches('p:news_data:AAPL:x')).toBe(true);
      expect(matches('p:news_data:MSFT')).toBe(true);
      expect(matches('p:news_data')).toBe(false);
      expect(matches('p:stock_price:AAPL')).toBe(false);
      expect(k.entityMatcher(undefined).pattern).toBe('p:*:*');
    });
  });
});
