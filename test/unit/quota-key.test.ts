/**
 * quotaKeyOf: which requests QuotaGuard counts, and under which key. The quota applies to the
 * covered paths however they are cased, to the bare prefix without its slash, and under any of
 * several prefixes; nothing else is counted.
 */
import { jest } from '@jest/globals';
import { Logger, type ExecutionContext } from '@nestjs/common';
import {
  QuotaExceededError,
  QuotaGuard,
  quotaIdOf,
  quotaKeyOf,
  type QuotaGuardOptions,
} from '../../src/cache/guards/quota.guard.js';
import type { QuotaService, QuotaUsage } from '../../src/cache/quota.service.js';

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

describe('QuotaGuard', () => {
  afterEach(() => jest.restoreAllMocks());

  const usage = (over: Partial<QuotaUsage> = {}): QuotaUsage => ({
    used: 1,
    limit: 10,
    remaining: 9,
    allowed: true,
    resetAt: 1_700_000_000_500,
    resetInSeconds: 30,
    degraded: false,
    ...over,
  });

  /** A guard over a stub QuotaService answering `answer`, and what it was asked and what it set. */
  function setup(answer: () => Promise<QuotaUsage>, options?: QuotaGuardOptions) {
    const calls: unknown[][] = [];
    const quotas = {
      trackApiQuota: (...args: unknown[]) => {
        calls.push(args);
        return answer();
      },
    } as unknown as QuotaService;
    const guard = options === undefined ? new QuotaGuard(quotas) : new QuotaGuard(quotas, options);
    const headers = new Map<string, unknown>();
    const context = (
      req: { url: string; headers: Record<string, string> },
      type = 'http',
    ): ExecutionContext =>
      ({
        getType: () => type,
        switchToHttp: () => ({
          getRequest: () => req,
          getResponse: () => ({ setHeader: (n: string, v: unknown) => headers.set(n, v) }),
        }),
      }) as unknown as ExecutionContext;
    return { guard, calls, headers, context };
  }

  it('counts a keyed /api request under the SHA-256 of its key, daily and with the module limit by default', async () => {
    const { guard, calls, headers, context } = setup(async () => usage());
    const ok = await guard.canActivate(context({ url: '/api/x', headers: { 'x-api-key': 'k1' } }));
    expect(ok).toBe(true);
    expect(calls).toEqual([[quotaIdOf('k1'), 'daily', undefined]]);
    expect(quotaIdOf('k1')).not.toContain('k1');
    expect(Object.fromEntries(headers)).toEqual({
      'X-RateLimit-Limit': 10,
      'X-RateLimit-Remaining': 9,
      'X-RateLimit-Reset': 1_700_000_001,
    });
  });

  it('uses its options: header, window and limit', async () => {
    const options = { header: 'X-Client-Key', window: 'hourly', limit: 3 } as const;
    const { guard, calls, context } = setup(async () => usage(), options);
    await guard.canActivate(context({ url: '/api/x', headers: { 'x-client-key': 'c1' } }));
    await guard.canActivate(context({ url: '/api/x', headers: { 'x-api-key': 'k1' } }));
    expect(calls).toEqual([[quotaIdOf('c1'), 'hourly', 3]]);
  });

  it('lets through, uncounted, what is not an HTTP request or carries no key', async () => {
    const { guard, calls, headers, context } = setup(async () => usage());
    expect(await guard.canActivate(context({ url: '/api/x', headers: {} }))).toBe(true);
    const rpc = {
      getType: () => 'rpc',
      switchToHttp: () => {
        throw new Error('not an HTTP request');
      },
    } as unknown as ExecutionContext;
    expect(await guard.canActivate(rpc)).toBe(true);
    expect(calls).toHaveLength(0);
    expect(headers.size).toBe(0);
  });

  it('past the limit refuses with Retry-After of at least 1 s, and counts the refusal', async () => {
    const { guard, headers, context } = setup(async () =>
      usage({ used: 11, remaining: 0, allowed: false, resetInSeconds: 0 }),
    );
    const attempt = guard.canActivate(context({ url: '/api/x', headers: { 'x-api-key': 'k1' } }));
    await expect(attempt).rejects.toMatchObject({ limit: 10, retryAfterSeconds: 1 });
    await expect(attempt).rejects.toBeInstanceOf(QuotaExceededError);
    expect(headers.get('Retry-After')).toBe(1);
    expect(guard.rejections).toBe(1);
  });

  it('lets a request through when the counter itself fails, logging no key', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const { guard, headers, context } = setup(async () => {
      throw new Error('counter broke');
    });
    const ok = await guard.canActivate(
      context({ url: '/api/x', headers: { 'x-api-key': 'secret-key-1' } }),
    );
    expect(ok).toBe(true);
    expect(headers.size).toBe(0);
    expect(guard.rejections).toBe(0);
    expect(warn).toHaveBeenCalledTimes(1);
    const line = String(warn.mock.calls[0][0]);
    expect(line).toContain('quota could not be counted; request let through: Error: counter broke');
    expect(line).not.toContain('secret-key-1');
  });
});
