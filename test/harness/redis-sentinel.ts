/** Sentinel mode of a harness `redis-server`: its config file and launch arguments. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TEST_HOST } from './ports.js';

/** The master a harness Sentinel watches: `127.0.0.1:masterPort` under `name`. */
export interface SentinelTarget {
  /** Master name clients ask the Sentinel for (`REDIS_SENTINEL_NAME`). */
  name: string;
  /** Port of the master on 127.0.0.1. */
  masterPort: number;
}

/** Sentinel needs a writable config file; it is (re)written on every launch. */
function writeSentinelConfig(dir: string, { name, masterPort }: SentinelTarget): string {
  const file = path.join(dir, 'sentinel.conf');
  fs.writeFileSync(
    file,
    [
      `sentinel monitor ${name} ${TEST_HOST} ${masterPort} 1`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 3000`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'),
  );
  return file;
}

/**
 * Writes `sentinel.conf` into `dir` (quorum 1, down after 1 s, failover timeout 3 s) and returns
 * the `redis-server` arguments of a Sentinel on `port` using it, `extraArgs` last.
 */
export function sentinelArgs(
  dir: string,
  port: number,
  target: SentinelTarget,
  extraArgs: readonly string[],
): string[] {
  return [
    writeSentinelConfig(dir, target),
    '--sentinel',
    '--port',
    String(port),
    '--bind',
    TEST_HOST,
    '--dir',
    dir,
    ...extraArgs,
  ];
}
