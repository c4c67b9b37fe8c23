import { checkCounterArgs, type CounterOptions, type CounterValue } from '../cache-store.js';
import type { RedisClient } from './redis-connection.js';

/**
 * INCRBY ARGV[1], and PEXPIRE ARGV[2] when the counter has no TTL yet: answers `[value, ttlMs, 1]`
 * atomically. With ARGV[3] > 0, a counter living longer than ARGV[3] ms is left as it is (a later
 * window's): `[value, ttlMs, 0]`.
 */
const INCREMENT_SCRIPT = `
local t = redis.call('PTTL', KEYS[1])
local m = tonumber(ARGV[3])
if m > 0 and t > m then
  return {tonumber(redis.call('GET', KEYS[1])) or 0, t, 0}
end
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if t < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  t = tonumber(ARGV[2])
end
return {v, t, 1}`;

/** DEL only while the key still holds the caller's token (a lock release). */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * A monotonic write (see `WriteOptions.asOf`): SET ARGV[1] PX ARGV[2] unless the stored text is a
 * tiered entry whose `asOf` (read from the tail of the text, as `storedAsOf` does) is larger than
 * ARGV[3] (only the last 160 characters are matched: the tail is shorter). Answers 1 when
 * written, 0 when the stored entry was kept. A value of another type, or text that is not an entry
 * (corrupt), is overwritten.
 */
const SET_IF_NEWER_SCRIPT = `
local cur = redis.pcall('GET', KEYS[1])
if type(cur) == 'string' then
  local n = '[%d%.eE%+%-]+'
  local a = string.match(string.sub(cur, -160), ',"a":(%-?' .. n .. '),"s":%-?' .. n .. ',"e":%-?' .. n .. ',"k":%-?' .. n .. '}$')
  if a and tonumber(a) and tonumber(a) > tonumber(ARGV[3]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

/** The client with the store's Lua scripts defined on it. */
export type ScriptClient = RedisClient & {
  mcIncrement(
    key: string,
    amount: number,
    ttlMs: number,
    maxTtlMs: number,
  ): Promise<[number, number, number]>;
  mcRelease(key: string, token: string): Promise<number>;
  mcSetIfNewer(key: string, value: string, ttlMs: number, asOf: number): Promise<number>;
};

/** Defines the store's Lua scripts (`mcIncrement`, `mcRelease`, `mcSetIfNewer`) on `client`. */
export function defineScripts(client: RedisClient): ScriptClient {
  client.defineCommand('mcIncrement', { numberOfKeys: 1, lua: INCREMENT_SCRIPT });
  client.defineCommand('mcRelease', { numberOfKeys: 1, lua: RELEASE_SCRIPT });
  client.defineCommand('mcSetIfNewer', { numberOfKeys: 1, lua: SET_IF_NEWER_SCRIPT });
  return client as ScriptClient;
}

/** Names of the scripts `withScript` has defined, per client. */
const definedScripts = new WeakMap<RedisClient, Set<string>>();

/**
 * `client` with the Lua script `name` defined on it (the first call per client defines it), for
 * scripts that live beside their callers (the budget's take, the waiting list's announce).
 */
export function withScript<C extends RedisClient>(
  client: RedisClient,
  name: string,
  numberOfKeys: number,
  lua: string,
): C {
  let names = definedScripts.get(client);
  if (!names) definedScripts.set(client, (names = new Set()));
  if (!names.has(name)) {
    client.defineCommand(name, { numberOfKeys, lua });
    names.add(name);
  }
  return client as C;
}

/**
 * The guarded call of `CacheStore.increment`: `mcIncrement` adding `options.by` (1) to the counter
 * at `key`. The arguments are checked here, before any call (`CacheValidationError`).
 */
export function counterCall(
  key: string,
  ttlMs: number,
  options?: CounterOptions,
): (client: ScriptClient) => Promise<CounterValue> {
  checkCounterArgs(ttlMs, options);
  const by = options?.by ?? 1;
  const max = options?.maxTtlMs === undefined ? 0 : Math.ceil(options.maxTtlMs);
  return async (client) => {
    const [value, ttl, added] = await client.mcIncrement(key, by, Math.ceil(ttlMs), max);
    const counted = { value: Number(value), ttlMs: Number(ttl) };
    return Number(added) === 1 ? counted : { ...counted, laterWindow: true };
  };
}
