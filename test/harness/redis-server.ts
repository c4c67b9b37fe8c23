/**
 * Test harness entry point: private `redis-server` processes (standalone, Sentinel and cluster) on
 * free loopback ports, so tests never touch a developer's Redis on 6379. Each concern lives in its
 * own file; this barrel re-exports what tests and benchmarks use.
 */
export { freePort, TEST_HOST, type FreePortOptions } from './ports.js';
export { pidAlive, sweepStaleTempDirs, TMP_PREFIX } from './temp-dirs.js';
export { redisCommand, redisCommandAt, type RedisCommandOptions } from './resp-client.js';
export { RedisServerProcess, type RedisServerOptions } from './redis-process.js';
export { type SentinelTarget } from './redis-sentinel.js';
export {
  clusterNodes,
  parseClusterNodes,
  RedisClusterProcess,
  type ClusterNodeInfo,
  type NodeAddress,
  type RedisClusterOptions,
} from './redis-cluster.js';
