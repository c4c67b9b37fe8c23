/**
 * User sessions (CacheService.cacheUserSession / getUserSession / deleteUserSession): what is
 * refused and stored, and what a reader gets back from a missing or corrupt session. Each test
 * builds its own module, with a small maxValueBytes; the sliding expiry across instances is in
 * cache-service.test.ts.
 */
import { Redis } from 'ioredis';
import { CacheValidationError } from '../../src/cache/errors/cache-errors.js';
import { testRedis } from '../harness/test-env.js';
import { CacheContext, createCacheContext, uniquePrefix } from '../support/cache-context.js';

const MAX_BYTES = 1024;

describe('user sessions', () => {
  let ctx: CacheContext;
  let raw: Redis;
  let prefix: string;
  const keyOf = (userId: string): string => `${prefix}:user_session:${userId}`;
  const corruptSessions = async (): Promise<number> =>
    (await ctx.cache.getCacheStatistics()).byKeyType.user_session?.l2.corrupt ?? 0;

  beforeEach(async () => {
    prefix = uniquePrefix('sess');
    ctx = await createCacheContext({
      redisUrl: testRedis().url,
      keyPrefix: prefix,
      maxValueBytes: MAX_BYTES,
    });
    raw = new Redis(testRedis().url);
  });
  afterEach(async () => {
    raw.disconnect();
    await ctx.close();
  });

  it('refuses a session that is not an object, naming `session`, and stores nothing', async () => {
    for (const bad of [null, 'text', 42, undefined]) {
      await expect(ctx.cache.cacheUserSession('u1', bad as never)).rejects.toMatchObject({
        field: 'session',
        message: 'session must be an object',
      });
    }
    await expect(ctx.cache.cacheUserSession('', { a: 1 })).rejects.toBeInstanceOf(
      CacheValidationError,
    );
    await expect(ctx.cache.getUserSession('')).rejects.toMatchObject({ field: 'userId' });
    await expect(ctx.cache.deleteUserSession('')).rejects.toMatchObject({ field: 'userId' });
    expect(await raw.exists(keyOf('u1'))).toBe(0);
  });

  it('keeps a session of exactly maxValueBytes and refuses a larger one, naming `session`', async () => {
    // JSON.stringify({ s: '…' }) is the text plus 8 characters.
    const atLimit = { s: 'x'.repeat(MAX_BYTES - 8) };
    expect(JSON.stringify(atLimit)).toHaveLength(MAX_BYTES);
    expect(await ctx.cache.cacheUserSession('u2', atLimit)).toBe(true);
    expect(await ctx.cache.getUserSession('u2')).toEqual(atLimit);

    await expect(
      ctx.cache.cacheUserSession('u3', { s: 'x'.repeat(MAX_BYTES - 7) }),
    ).rejects.toMatchObject({
      field: 'session',
      message: `session is larger than maxValueBytes (${MAX_BYTES})`,
    });
    expect(await raw.exists(keyOf('u3'))).toBe(0);
  });

  it('answers null for a user with no session, writing nothing', async () => {
    expect(await ctx.cache.getUserSession('nobody')).toBeNull();
    expect(await raw.exists(keyOf('nobody'))).toBe(0);
    // A missing session is not a corrupt one.
    expect(await corruptSessions()).toBe(0);
  });

  it('gives a session the user_session TTL when the call names none', async () => {
    await ctx.cache.cacheUserSession('u4', { a: 1 });
    const pttl = await raw.pttl(keyOf('u4'));
    // The default user_session TTL is 30 min; an explicit TTL replaces it.
    expect(pttl).toBeGreaterThan(29 * 60_000);
    expect(pttl).toBeLessThanOrEqual(30 * 60_000);
    await ctx.cache.cacheUserSession('u4', { a: 1 }, 5);
    expect(await raw.pttl(keyOf('u4'))).toBeLessThanOrEqual(5_000);
  });

  it('deletes and counts a stored session that is not a JSON object, answering null', async () => {
    for (const [userId, stored] of [
      ['c1', '42'],
      ['c2', '"text"'],
      ['c3', 'null'],
    ] as const) {
      await ctx.cache.cacheUserSession(userId, { a: 1 });
      // Keep the entry's own encoding: replace only the JSON text of the session in it.
      const entry = await raw.get(keyOf(userId));
      expect(entry).toContain('{"a":1}');
      await raw.set(keyOf(userId), entry!.replace('{"a":1}', stored), 'PX', 60_000);
      const before = await corruptSessions();
      expect(await ctx.cache.getUserSession(userId)).toBeNull();
      expect(await raw.exists(keyOf(userId))).toBe(0);
      expect(await corruptSessions()).toBe(before + 1);
    }
  });
});
