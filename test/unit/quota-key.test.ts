/**
 * quotaKeyOf: which requests QuotaGuard counts, and under which key. The quota applies to the
 * covered paths however they are cased, to the bare prefix without its slash, and under any of
 * several prefixes; nothing else is counted.
 */
import { quotaKeyOf, QuotaExceededError } from '../../src/cache/guards/quota.guard.js';

const req = (
  url: string,
  headers: Record<string, string | string[]> = {},
  originalUrl?: string,
) => ({
  url,
  originalUrl,
  headers: { 'x-api-key': 'k1', ...headers },
});

describe('quotaKeyOf', () => {
  it('counts /api/** however cased, the bare /api, and ignores the query string', () => {
    expect(quotaKeyOf(req('/api/stocks/AAPL/price'))).toBe('k1');
    expect(quotaKeyOf(req('/API/Stocks/AAPL/price'))).toBe('k1');
    expect(quotaKeyOf(req('/api'))).toBe('k1');
    expect(quotaKeyOf(req('/api?x=/api/'))).toBe('k1');
    expect(quotaKeyOf(req('/health?next=/api/x'))).toBeUndefined();
    expect(quotaKeyOf(req('/apix'))).toBeUndefined();
    expect(quotaKeyOf(req('/metrics'))).toBeUndefined();
  });

  it('matches the path the client asked for (originalUrl) before a rewritten url', () => {
    expect(quotaKeyOf(req('/internal', {}, '/api/stocks'))).toBe('k1');
    expect(quotaKeyOf(req('/api/stocks', {}, '/docs'))).toBeUndefined();
  });

  it('counts under any of several prefixes, given in any case', () => {
    const options = { pathPrefixes: ['/v1/', '/Data/'] };
    expect(quotaKeyOf(req('/v1/a'), options)).toBe('k1');
    expect(quotaKeyOf(req('/data/b'), options)).toBe('k1');
    expect(quotaKeyOf(req('/DATA'), options)).toBe('k1');
    expect(quotaKeyOf(req('/api/c'), options)).toBeUndefined();
  });

  it('reads the key from the configured header (first value), none when absent or empty', () => {
    expect(quotaKeyOf(req('/api/a', { 'x-api-key': ['k2', 'k3'] }))).toBe('k2');
    expect(quotaKeyOf(req('/api/a', { 'x-api-key': '' }))).toBeUndefined();
    expect(quotaKeyOf({ url: '/api/a', headers: {} })).toBeUndefined();
    expect(quotaKeyOf(req('/api/a', { 'x-client': 'c9' }), { header: 'X-Client' })).toBe('c9');
  });
});

describe('QuotaExceededError', () => {
  it('carries its code, the limit and the seconds to wait', () => {
    const e = new QuotaExceededError(100, 42);
    expect(e).toMatchObject({ code: 'CACHE_QUOTA_EXCEEDED', limit: 100, retryAfterSeconds: 42 });
    expect(e.message).toBe('API quota of 100 requests exceeded; retry in 42 s');
  });
});
