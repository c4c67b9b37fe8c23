import type { ChainableCommander } from 'ioredis';
import type { StoreEntry, WriteOutcome } from '../cache-store.js';
import { groupBySlot } from './read-coalescer.js';
import type { ScriptClient } from './redis-scripts.js';

/** The guarded path of `RedisCache` (`guard`), as the write helpers call it. */
export type Guard = <T>(
  op: string,
  fallback: T,
  call: (client: ScriptClient) => Promise<T>,
  route?: string,
) => Promise<T>;

/** A pipeline with the store's monotonic write script (ioredis defines scripts on pipelines too). */
type ScriptPipeline = ChainableCommander & {
  mcSetIfNewer(key: string, value: string, ttlMs: number, asOf: number): ChainableCommander;
};

/**
 * One write: a plain `SET … PX` without `asOf` (no script, no extra cost), else the monotonic
 * `mcSetIfNewer` script (one EVALSHA: read the stored `asOf`, compare, SET).
 */
export async function writeOne(
  c: ScriptClient,
  key: string,
  value: string,
  ttlMs: number,
  asOf: number | undefined,
): Promise<WriteOutcome> {
  const ms = Math.ceil(ttlMs);
  if (asOf === undefined)
    return (await c.set(key, value, 'PX', ms)) === 'OK' ? 'written' : 'failed';
  return Number(await c.mcSetIfNewer(key, value, ms, asOf)) === 1 ? 'written' : 'kept-newer';
}

/**
 * `pipelineSet` on Redis: the last entry of a key wins; one pipeline per hash slot on a cluster
 * (each guarded with the breaker of its slot's master), plain SETs and monotonic scripts mixed as
 * the entries carry an `asOf`. Answers each entry's outcome, in order (`failed` for a whole group
 * whose pipeline failed).
 */
export async function writeMany(
  guard: Guard,
  cluster: boolean,
  entries: readonly StoreEntry[],
): Promise<WriteOutcome[]> {
  const unique = [...new Map(entries.map((e) => [e.key, e])).values()];
  const groups = cluster
    ? groupBySlot(unique.map((e) => e.key)).map((g) => g.map((i) => unique[i]))
    : [unique];
  const byKey = new Map<string, WriteOutcome>();
  await Promise.all(
    groups.map(async (group) => {
      const outcomes = await guard<WriteOutcome[] | undefined>(
        'pipelineSet',
        undefined,
        async (c) => {
          const p = c.pipeline() as ScriptPipeline;
          for (const e of group) {
            const ms = Math.ceil(e.ttlMs);
            if (e.asOf === undefined) p.set(e.key, e.value, 'PX', ms);
            else p.mcSetIfNewer(e.key, e.value, ms, e.asOf);
          }
          const replies = (await p.exec()) ?? [];
          const failed = replies.find(([err]) => err);
          if (failed) throw failed[0];
          if (replies.length !== group.length) throw new Error('pipeline answered too few replies');
          return replies.map(([, r]) => (r === 'OK' || Number(r) === 1 ? 'written' : 'kept-newer'));
        },
        cluster ? group[0].key : undefined,
      );
      group.forEach((e, i) => byKey.set(e.key, outcomes?.[i] ?? 'failed'));
    }),
  );
  return entries.map((e) => byKey.get(e.key) ?? 'failed');
}
