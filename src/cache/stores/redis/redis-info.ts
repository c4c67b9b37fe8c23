import { Cluster } from 'ioredis';
import type { RedisClient } from './redis-connection.js';
import { masterNodes } from './redis-scan.js';

/** Parsed memory figures from `INFO memory` (summed over masters on a cluster). */
export interface RedisMemoryInfo {
  usedBytes: number;
  usedHuman: string;
  peakBytes: number;
  maxBytes: number;
  maxPolicy: string;
  fragmentationRatio: number;
}

/** The figures `RedisCache.getHealth()` reports from `INFO` when Redis answers. */
export interface RedisInfoFigures {
  version: string | undefined;
  /** Keyspace hits over hits + misses, in percent with two decimals. */
  hitRatePercent: number;
  keyspaceHits: number;
  keyspaceMisses: number;
  usedMemoryBytes: number;
  usedMemoryHuman: string;
  maxMemoryBytes: number;
  evictedKeys: number;
  connectedClients: number;
  /** Uptime of the youngest node, in seconds. */
  uptimeSeconds: number;
  totalCommands: number;
  /** Nodes that answered INFO. */
  nodes: number;
}

/** Parses INFO text into a field map. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** Formats a byte count like Redis does (`1.50M`). */
export function humanBytes(bytes: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(2)}${units[u]}`;
}

/** Memory figures from the parsed `INFO memory` of every master. */
export function memoryFigures(infos: readonly Record<string, string>[]): RedisMemoryInfo {
  const used = sumOf(infos, 'used_memory');
  return {
    usedBytes: used,
    usedHuman: humanBytes(used),
    peakBytes: sumOf(infos, 'used_memory_peak'),
    maxBytes: sumOf(infos, 'maxmemory'),
    maxPolicy: infos[0]?.maxmemory_policy ?? 'unknown',
    fragmentationRatio: num(infos[0]?.mem_fragmentation_ratio),
  };
}

/** Health figures from the parsed full `INFO` of every master (counters summed over nodes). */
export function healthFigures(infos: readonly Record<string, string>[]): RedisInfoFigures {
  const hits = sumOf(infos, 'keyspace_hits');
  const misses = sumOf(infos, 'keyspace_misses');
  const used = sumOf(infos, 'used_memory');
  return {
    version: infos[0]?.redis_version,
    hitRatePercent: hits + misses === 0 ? 0 : Math.round((hits / (hits + misses)) * 10_000) / 100,
    keyspaceHits: hits,
    keyspaceMisses: misses,
    usedMemoryBytes: used,
    usedMemoryHuman: humanBytes(used),
    maxMemoryBytes: sumOf(infos, 'maxmemory'),
    evictedKeys: sumOf(infos, 'evicted_keys'),
    connectedClients: sumOf(infos, 'connected_clients'),
    uptimeSeconds: infos.length ? Math.min(...infos.map((i) => num(i.uptime_in_seconds))) : 0,
    totalCommands: sumOf(infos, 'total_commands_processed'),
    nodes: infos.length,
  };
}

/**
 * `INFO` (or one `section` of it) of every master that answers, parsed into field maps (a sick
 * cluster master is left out); throws when no node answers.
 */
export async function readInfo(
  client: RedisClient,
  section?: string,
): Promise<Record<string, string>[]> {
  const settled = await Promise.allSettled(
    masterNodes(client).map(async (n) =>
      parseInfo(section ? await n.info(section) : await n.info()),
    ),
  );
  const answered = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed && answered.length === 0) throw failed.reason;
  return answered;
}

/**
 * PINGs the server (the first master of a cluster) directly, not through the breaker. Answers the
 * round trip in milliseconds (three decimals), or `undefined` when no PONG came back; a failure
 * goes to `onError`.
 */
export async function pingMs(
  client: RedisClient,
  onError: (error: unknown) => void,
): Promise<number | undefined> {
  const t0 = process.hrtime.bigint();
  let pong: string | undefined;
  try {
    pong = await (client instanceof Cluster ? client.nodes('master')[0]?.ping() : client.ping());
  } catch (e) {
    onError(e);
  }
  const latencyMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return pong === 'PONG' ? Math.round(latencyMs * 1000) / 1000 : undefined;
}

function sumOf(infos: readonly Record<string, string>[], field: string): number {
  return infos.reduce((a, i) => a + num(i[field]), 0);
}

function num(v: string | undefined): number {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}
