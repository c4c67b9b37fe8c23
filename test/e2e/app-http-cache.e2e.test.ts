/**
 * The app's stock routes on the library's own HTTP cache: a repeated URL is answered from the
 * stored bytes with the stored ETag (and 304), range routes keep a truthful X-Cache-Coverage,
 * the stored response lives no longer than its data is fresh, and per-identity entries are never
 * answered to anyone else.
 */
import request from 'supertest';
import { CacheKeyType, CacheService } from '../../src/cache/index.js';
import { keysUnder, startMarketApp, type MarketApp } from './market-e2e-support.js';

let m: MarketApp;
const http = () => request(m.app.getHttpServer());

beforeAll(async () => {
  m = await startMarketApp({}, '2024-06-14');
});

afterAll(async () => {
  await m?.close();
});

/** Stored keys of cached responses whose key contains `part`. */
async function responseKeys(part: string): Promise<string[]> {
  return (await keysUnder(m.redis, m.prefix)).filter(
    (k) => k.includes(':http:') && k.includes(part) && !k.includes('!lock:'),
  );
}

async function rangeHits(): Promise<number> {
  const stats = await http().get('/api/cache/stats').expect(200);
  return stats.body.byKeyType.price_bars.range.hits as number;
}

describe('stock routes on the HTTP cache', () => {
  it('answers a repeated bars URL from the stored bytes: same body and ETag, 304, coverage full, nothing read or fetched again', async () => {
    const url = '/api/stocks/MSFT/bars?from=2023-01-01&to=2023-12-31';
    const first = await http().get(url).expect(200);
    expect(first.headers['x-cache']).toBe('MISS');
    expect(first.headers['x-cache-coverage']).toBe('none');
    expect(first.headers['content-type']).toBe('application/json; charset=utf-8');
    m.provider.resetCallCounts();
    const hitsBefore = await rangeHits();

    const second = await http().get(url).expect(200);
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.headers['x-cache-coverage']).toBe('full');
    expect(second.text).toBe(first.text);
    expect(second.headers.etag).toBe(first.headers.etag);
    expect(m.provider.getCallCounts().getDailyBars).toBe(0);
    // Answered from the response entry: the range cache was not read for it.
    expect(await rangeHits()).toBe(hitsBefore);

    const notModified = await http().get(url).set('If-None-Match', first.headers.etag).expect(304);
    expect(notModified.text ?? '').toBe('');
    const [stored] = await responseKeys(':MSFT:');
    expect(stored).toBeDefined();
    // Every distinct range is its own entry: kept briefly (300 s), while its months stay.
    const entry = await m.app
      .get(CacheService)
      .get<{ ttl: number }>(stored.slice(m.prefix.length + 1));
    expect(entry?.value.ttl).toBe(300);
    expect(await responseKeys(':MSFT:')).toHaveLength(1);
  });

  it('keeps a stored response no longer than its data stays fresh', async () => {
    await http().get('/api/stocks/AMZN/price').expect(200);
    const [responseKey] = await responseKeys(':AMZN:');
    const dataKey = (await keysUnder(m.redis, m.prefix)).find(
      (k) => k.includes('stock_price:AMZN') && !k.includes(':http:') && !k.includes('!lock:'),
    ) as string;
    expect(responseKey).toBeDefined();
    expect(dataKey).toBeDefined();
    const [responseTtl, dataTtl] = await Promise.all([
      m.redis.pttl(responseKey),
      m.redis.pttl(dataKey),
    ]);
    expect(responseTtl).toBeGreaterThan(0);
    expect(responseTtl).toBeLessThanOrEqual(dataTtl + 1000);
  });

  it('never answers an entry stored for one API key to another key, another credential or an anonymous caller', async () => {
    const url = '/api/stocks/GOOGL/price';
    const alpha = await http().get(url).set('X-API-Key', 'alpha').expect(200);
    expect(alpha.headers['cache-control']).toMatch(/^private, max-age=\d+$/);
    const [alphaKey] = await responseKeys(':GOOGL:');
    expect(alphaKey).toBeDefined();
    // Mark alpha's entry so that any answer taken from it is recognisable.
    const logical = alphaKey.slice(m.prefix.length + 1);
    await m.app
      .get(CacheService)
      .set(
        logical,
        { text: '{"who":"alpha"}', etag: '"alpha-only"', ttl: 60 },
        { ttl: 60, keyType: CacheKeyType.STOCK_PRICE },
      );
    const again = await http().get(url).set('X-API-Key', 'alpha').expect(200);
    expect(again.body).toEqual({ who: 'alpha' });

    for (const other of [
      http().get(url).set('X-API-Key', 'beta'),
      http().get(url).set('Authorization', 'alpha'),
      http().get(url),
    ]) {
      const res = await other.expect(200);
      expect(res.body.ticker).toBe('GOOGL');
      expect(res.headers.etag).not.toBe('"alpha-only"');
    }
    expect(await responseKeys(':GOOGL:')).toHaveLength(4);
  });
});
