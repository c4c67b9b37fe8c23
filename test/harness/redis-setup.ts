/**
 * Jest globalSetup: starts one standalone Redis and one 3-master/3-replica Redis Cluster on
 * free loopback ports (never 6379), publishes their addresses via env vars (inherited by the
 * workers) and {@link TEST_ENV_FILE}, and keeps the handles for global-teardown.
 */
import * as fs from 'node:fs';
import { RedisClusterProcess } from './redis-cluster.js';
import { RedisServerProcess } from './redis-process.js';
import { pingOnce, redisCommand } from './resp-client.js';
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
  /** Kept for the next jest run in this process (a Stryker worker); see {@link reuseKept}. */
  kept?: boolean;
}

declare global {
  var __MARKET_CACHE_REDIS__: MarketCacheRedisState | undefined;
}

function killAllSync(state: MarketCacheRedisState): void {
  state.standalone?.killSync();
  state.cluster?.servers.forEach((s) => s.killSync());
}

/**
 * A Stryker worker runs jest in-process once per mutant: starting a cluster each time is 2-5 s
 * of every mutant. There the servers outlive a run (teardown leaves them; Stryker tree-kills a
 * worker with its children, and the exit hook covers a normal exit) and the next run gets them
 * emptied. Returns false when there is nothing alive to reuse.
 */
async function reuseKept(state: MarketCacheRedisState | undefined): Promise<boolean> {
  const { standalone, cluster } = state ?? {};
  if (!state?.kept || !standalone || !cluster) return false;
  const ports = [standalone.port, ...cluster.nodes.map((n) => n.port)];
  const alive = await Promise.all(ports.map((port) => pingOnce(port)));
  const healthy =
    !alive.includes(false) &&
    (await cluster.waitUntilReady(2_000).then(
      () => true,
      () => false,
    ));
  if (!healthy) {
    await Promise.allSettled([standalone.stop(), cluster.stop()]);
    killAllSync(state);
    return false;
  }
  // Replicas follow their masters; FLUSHALL on a replica is refused (read-only).
  await Promise.all(
    [standalone.port, ...(await cluster.masterPorts())].map((port) =>
      redisCommand(port, 'FLUSHALL'),
    ),
  );
  publish(standalone, cluster);
  return true;
}

function publish(standalone: RedisServerProcess, cluster: RedisClusterProcess): void {
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

/** Starts the test Redis servers; see module doc. */
export default async function globalSetup(): Promise<void> {
  const inStrykerWorker = process.env.STRYKER_MUTATOR_WORKER !== undefined;
  if (inStrykerWorker && (await reuseKept(globalThis.__MARKET_CACHE_REDIS__))) return;
  sweepStaleTempDirs();
  const state: MarketCacheRedisState = {
    standalone: undefined,
    cluster: undefined,
    kept: inStrykerWorker,
  };
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

  publish(standaloneResult.value, clusterResult.value);
}
