import { Cluster, type Redis } from 'ioredis';
import type { RedisClient } from './redis-connection.js';

/** The nodes that hold keys: every master of a cluster, or the one server. */
export function masterNodes(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/** SCANs one node for `pattern`, `count` keys per step, handing over each step's keys. */
export async function scanNode(
  node: Redis,
  pattern: string,
  count: number,
  onBatch: (keys: string[]) => Promise<void>,
): Promise<void> {
  let cursor = '0';
  do {
    const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
    cursor = next;
    if (found.length) await onBatch(found);
  } while (cursor !== '0');
}

/**
 * SCAN + UNLINK in batches of `count` on every master (never KEYS, never FLUSHDB), skipping keys
 * `filter` rejects. On a cluster, each key is unlinked on the node that holds it, in one pipeline
 * per batch (no CROSSSLOT). Reports each batch's removals to `onRemoved`, so a failure part-way
 * still tells what was removed; throws when a node fails.
 */
export async function unlinkMatching(
  client: RedisClient,
  pattern: string,
  count: number,
  filter: ((key: string) => boolean) | undefined,
  onRemoved: (removed: number) => void,
): Promise<void> {
  const cluster = client instanceof Cluster;
  for (const node of masterNodes(client)) {
    await scanNode(node, pattern, count, async (found) => {
      const batch = filter ? found.filter(filter) : found;
      if (batch.length === 0) return;
      if (!cluster) {
        onRemoved(await node.unlink(...batch));
        return;
      }
      const p = node.pipeline();
      for (const k of batch) p.unlink(k);
      for (const [err, n] of (await p.exec()) ?? []) if (!err) onRemoved(Number(n));
    });
  }
}
