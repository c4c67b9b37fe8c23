/**
 * CacheTTLPolicy (the `ttl` module options) built inside each test: overrides per key type,
 * the jitter the README promises (0-50 %, only upwards, none by default), and refusals that
 * name the bad option.
 */
import { jest } from '@jest/globals';
import { CacheValidationError } from '../../src/cache/errors/cache-errors.js';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import {
  CacheTTLPolicy,
  type CacheTTLPolicyOptions,
} from '../../src/cache/keys/cache-ttl-policy.js';

/** The field and message of the CacheValidationError the options raise. */
function refusal(options: CacheTTLPolicyOptions): { field: string; message: string } {
  try {
    new CacheTTLPolicy(options);
  } catch (e) {
    expect(e).toBeInstanceOf(CacheValidationError);
    const { field, message } = e as CacheValidationError;
    return { field, message };
  }
  throw new Error('the options were accepted');
}

describe('CacheTTLPolicy', () => {
  afterEach(() => jest.restoreAllMocks());

  it('applies overrides per key type and a default for keys with no type', () => {
    const policy = new CacheTTLPolicy({
      ttlSeconds: { [CacheKeyType.STOCK_PRICE]: 7 },
      maxStalenessSeconds: { [CacheKeyType.STOCK_PRICE]: 0 },
      defaultTtlSeconds: 42,
    });
    expect(policy.ttlFor(CacheKeyType.STOCK_PRICE)).toBe(7);
    expect(policy.ttlMsFor(CacheKeyType.STOCK_PRICE)).toBe(7_000);
    expect(policy.ttlMsFor(undefined)).toBe(42_000);
    expect(policy.defaultTtlSeconds).toBe(42);
    expect(policy.maxStalenessFor(CacheKeyType.STOCK_PRICE)).toBe(0);
    expect(policy.maxStalenessFor(undefined)).toBe(0);
  });

  it('adds no jitter by default and never calls the random source for it', () => {
    const random = jest.spyOn(Math, 'random');
    const policy = new CacheTTLPolicy({ defaultTtlSeconds: 100 });
    expect(policy.ttlMsFor(undefined)).toBe(100_000);
    expect(random).not.toHaveBeenCalled();
  });

  it('stretches a TTL by up to jitterPercent, never shortens it', () => {
    const policy = new CacheTTLPolicy({ defaultTtlSeconds: 100, jitterPercent: 20 });
    const random = jest.spyOn(Math, 'random');
    random.mockReturnValue(0);
    expect(policy.ttlMsFor(undefined)).toBe(100_000);
    random.mockReturnValue(0.5);
    expect(policy.ttlMsFor(undefined)).toBe(110_000);
    random.mockReturnValue(0.999);
    expect(policy.ttlMsFor(undefined)).toBe(119_980);
  });

  it('accepts a jitter from 0 to 50 % and refuses anything else, naming jitterPercent', () => {
    expect(() => new CacheTTLPolicy({ jitterPercent: 0 })).not.toThrow();
    expect(() => new CacheTTLPolicy({ jitterPercent: 50 })).not.toThrow();
    for (const jitterPercent of [-1, 50.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(refusal({ jitterPercent })).toEqual({
        field: 'jitterPercent',
        message: 'jitterPercent must be a number from 0 to 50',
      });
    }
  });

  it('refuses an unknown key type and a bad number of seconds, naming the option', () => {
    expect(refusal({ ttlSeconds: { bogus: 5 } as never })).toEqual({
      field: 'ttlSeconds.bogus',
      message: "ttlSeconds: unknown key type 'bogus'",
    });
    expect(refusal({ ttlSeconds: { [CacheKeyType.NEWS_DATA]: 0 } })).toMatchObject({
      field: 'ttlSeconds.news_data',
      message: expect.stringContaining('positive number of seconds'),
    });
    expect(refusal({ maxStalenessSeconds: { [CacheKeyType.NEWS_DATA]: -1 } })).toEqual({
      field: 'maxStalenessSeconds.news_data',
      message: 'maxStalenessSeconds.news_data must be a non-negative number of seconds, got -1',
    });
    expect(refusal({ maxStalenessSeconds: { bogus: 5 } as never })).toEqual({
      field: 'maxStalenessSeconds.bogus',
      message: "maxStalenessSeconds: unknown key type 'bogus'",
    });
    expect(refusal({ defaultTtlSeconds: 0 })).toMatchObject({
      field: 'defaultTtlSeconds',
      message: expect.stringContaining('positive number of seconds'),
    });
  });
});
