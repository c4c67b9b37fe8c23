/**
 * Accessors for the Redis instances started by the jest global setup
 * (`test/harness/global-setup.mjs` → `redis-setup.ts`), usable from any test file / worker.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pidAlive } from './temp-dirs.js';

/** File the global setup writes the test environment description to. */
export const TEST_ENV_FILE = (process.env.MARKET_CACHE_TEST_ENV_FILE ??= path.join(
  os.tmpdir(),
  `market-cache-test-env-${process.pid}.json`,
));

/** Env var holding the standalone test Redis URL (`redis://127.0.0.1:PORT`). */
export const TEST_REDIS_URL_ENV = 'TEST_REDIS_URL';
/** Env var holding the test cluster seed list (`127.0.0.1:P1,127.0.0.1:P2,...`). */
export const TEST_REDIS_CLUSTER_NODES_ENV = 'TEST_REDIS_CLUSTER_NODES';

/** Standalone test Redis address. */
export interface TestRedisAddress {
  url: string;
  host: string;
  port: number;
}

/** Test cluster addresses. */
export interface TestClusterAddress {
  nodes: { host: string; port: number }[];
  nodeList: string;
}

/** Shape of {@link TEST_ENV_FILE}. */
export interface TestEnvFile {
  standalone: TestRedisAddress;
  cluster: TestClusterAddress;
  pids: number[];
}

const NOT_INITIALISED =
  'Test Redis environment is not initialised: run the tests through jest so that globalSetup ' +
  `(test/harness/global-setup.mjs) starts the servers, or set ${TEST_REDIS_URL_ENV} and ` +
  `${TEST_REDIS_CLUSTER_NODES_ENV}.`;

function readEnvFile(): TestEnvFile {
  let parsed: TestEnvFile;
  try {
    parsed = JSON.parse(fs.readFileSync(TEST_ENV_FILE, 'utf8')) as TestEnvFile;
  } catch {
    throw new Error(NOT_INITIALISED);
  }
  if (!parsed.pids?.length || !parsed.pids.every(pidAlive)) {
    throw new Error(
      `${NOT_INITIALISED} (${TEST_ENV_FILE} is stale: its redis-server processes are gone)`,
    );
  }
  return parsed;
}

function parseHostPort(hostPort: string): { host: string; port: number } {
  const i = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, i);
  const port = Number(hostPort.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port <= 0)
    throw new Error(`Invalid host:port "${hostPort}"`);
  return { host, port };
}

/** Address of the standalone test Redis (from `TEST_REDIS_URL`, else the env file). Throws if setup did not run. */
export function testRedis(): TestRedisAddress {
  const url = process.env[TEST_REDIS_URL_ENV];
  if (url) {
    const u = new URL(url);
    return { url, host: u.hostname, port: Number(u.port || 6379) };
  }
  return readEnvFile().standalone;
}

/** Addresses of the test cluster (from `TEST_REDIS_CLUSTER_NODES`, else the env file). Throws if setup did not run. */
export function testCluster(): TestClusterAddress {
  const nodeList = process.env[TEST_REDIS_CLUSTER_NODES_ENV];
  if (nodeList) {
    const nodes = nodeList
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map(parseHostPort);
    return { nodes, nodeList };
  }
  return readEnvFile().cluster;
}
