/**
 * Jest globalSetup: starts one standalone Redis and one 3-master/3-replica Redis Cluster on
 * free loopback ports (never 6379), publishes their addresses via env vars (inherited by the
 * workers) and {@link TEST_ENV_FILE}, and keeps the handles for global-teardown.
 */
import * as fs from 'node:fs';
import { RedisClusterProcess } from './redis-cluster.js';
import { RedisServerProcess } from './redis-process.js';
import { sweepStaleTempDirs } from './temp-dirs.js';
import {
  TEST_ENV_FILE,
  TEST_REDIS_CLUSTER_NODES_ENV,
  TEST_REDIS_URL_ENV,
  TestEnvFile,
} from './test-env.js';

/** Handles shared between global setup and teardown (same process, same `globalThis`). */
export interface MarketCacheRedisState {
  standalone: RedisServerProcess | undefined;
  cluster: RedisClusterProcess | undefined;
}

declare global {
  var __MARKET_CACHE_REDIS__: MarketCacheRedisState | undefined;
}

function killAllSync(state: MarketCacheRedisState): void {
  state.standalone?.killSync();
  state.cluster?.servers.forEach((s) => s.killSync());
}

/** Starts the test Redis servers; see module doc. */
export default async function globalSetup(): Promise<void> {
  sweepStaleTempDirs();
  const state: MarketCacheRedisState = { standalone: undefined, cluster: undefined };
  globalThis.__MARKET_CACHE_REDIS__ = state;
  // A crashed/aborted run must not leave redis-server processes behind.
  process.on('exit', () => killAllSync(state));

  const [standaloneResult, clusterResult] = await Promise.allSettled([
    RedisServerProcess.start(),
    RedisClusterProcess.start({ masters: 3, replicasPerMaster: 1 }),
  ]);
  if (standaloneResult.status === 'fulfilled') state.standalone = standaloneResult.value;
  if (clusterResult.status === 'fulfilled') state.cluster = clusterResult.value;
  if (standaloneResult.status === 'rejected' || clusterResult.status === 'rejected') {
    await Promise.allSettled([state.standalone?.stop(), state.cluster?.stop()]);
    killAllSync(state);
    const failed = standaloneResult.status === 'rejected' ? standaloneResult : clusterResult;
    throw (failed as PromiseRejectedResult).reason;
  }

  const standalone = standaloneResult.value;
  const cluster = clusterResult.value;
  const pids = [standalone.pid, ...cluster.pids].filter((p): p is number => typeof p === 'number');
  const env: TestEnvFile = {
    standalone: { host: standalone.host, port: standalone.port, url: standalone.url },
    cluster: { nodes: cluster.nodes, nodeList: cluster.nodeList },
    pids,
  };
  fs.writeFileSync(TEST_ENV_FILE, JSON.stringify(env, null, 2));
  process.env[TEST_REDIS_URL_ENV] = standalone.url;
  process.env[TEST_REDIS_CLUSTER_NODES_ENV] = cluster.nodeList;
}
