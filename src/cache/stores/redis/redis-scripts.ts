import type { RedisClient } from './redis-connection.js';

/** INCR, and PEXPIRE when the counter has no TTL yet: answers `[value, ttlMs]` atomically. */
const INCREMENT_SCRIPT = `
local v = redis.call('INCR', KEYS[1])
local t = redis.call('PTTL', KEYS[1])
if t < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  t = tonumber(ARGV[1])
end
return {v, t}`;

/** DEL only while the key still holds the caller's token (a lock release). */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** The client with the store's Lua scripts defined on it. */
export type ScriptClient = RedisClient & {
  mcIncrement(key: string, ttlMs: number): Promise<[number, number]>;
  mcRelease(key: string, token: string): Promise<number>;
};

/** Defines the store's Lua scripts (`mcIncrement`, `mcRelease`) on `client`. */
export function defineScripts(client: RedisClient): ScriptClient {
  client.defineCommand('mcIncrement', { numberOfKeys: 1, lua: INCREMENT_SCRIPT });
  client.defineCommand('mcRelease', { numberOfKeys: 1, lua: RELEASE_SCRIPT });
  return client as ScriptClient;
}
