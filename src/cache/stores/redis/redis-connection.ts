import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { CacheValidationError } from '../../errors/cache-errors.js';
import { errorSummary, type RateLimitedLogger } from '../../util/rate-limited-logger.js';
import { withTimeout } from '../../util/with-timeout.js';

/** How to reach Redis: one of `url`, `clusterNodes` or `sentinels` (+ `sentinelName`). */
export interface RedisConnectionOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…` (TLS). */
  url?: string;
  /** Cluster seed nodes as `host:port` (or `redis://host:port`). */
  clusterNodes?: string[];
  /** Sentinels as `host:port`. */
  sentinels?: string[];
  /** Name of the master the sentinels watch. */
  sentinelName?: string;
  /** ACL user name (overrides the URL's). */
  username?: string;
  /** Password (overrides the URL's). Never logged. */
  password?: string;
  /**
   * TLS: `true` for the system CAs, or Node TLS options (`ca`, `cert`, `key`, `servername`…)
   * for a private CA or client certificates. A `rediss://` URL implies `true`.
   */
  tls?: boolean | TlsOptions;
  /** Per-command timeout in milliseconds. Default 250. */
  commandTimeoutMs?: number;
  /** Connect timeout in milliseconds. Default 2000. */
  connectTimeoutMs?: number;
}

/** Either client flavour ioredis offers. */
export type RedisClient = Redis | Cluster;

/**
 * The store's one guarded path, as its parts see it: runs `call` on the shared client unless the
 * breaker is open (on a cluster, the breaker of `route`'s master when the call is routed by that
 * key), counts and logs a failure, feeds the breaker, answers `fallback` on failure.
 */
export type GuardedCall = <T>(
  op: string,
  fallback: T,
  call: (client: RedisClient) => Promise<T>,
  route?: string,
) => Promise<T>;

/** Parses `host:port` or `redis://host:port` into an ioredis node address. */
export function parseHostPort(value: string, field: string): { host: string; port: number } {
  const text = value
    .trim()
    .replace(/^rediss?:\/\//, '')
    .replace(/\/.*$/, '')
    .replace(/^[^@]*@/, '');
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535)
    throw new CacheValidationError(field, `${field}: '${text}' is not host:port`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

/**
 * Builds the one ioredis client of the process, configured to fail fast: no offline queue,
 * at most one retry per request, a command timeout, and reconnection with capped back-off.
 * The client is created with `lazyConnect`; call `connect()` on it.
 */
export function createRedisClient(options: RedisConnectionOptions): RedisClient {
  const tls: TlsOptions | undefined = options.tls === true ? {} : options.tls || undefined;
  const common: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs ?? 250,
    connectTimeout: options.connectTimeoutMs ?? 2000,
    enableReadyCheck: true,
    retryStrategy: (times: number) => Math.min(times * 100, 1000),
    ...(options.username ? { username: options.username } : {}),
    ...(options.password ? { password: options.password } : {}),
  };
  if (options.clusterNodes && options.clusterNodes.length > 0) {
    const nodes: ClusterNode[] = options.clusterNodes.map((n, i) =>
      parseHostPort(n, `clusterNodes[${i}]`),
    );
    return new Cluster(nodes, {
      lazyConnect: true,
      enableOfflineQueue: false,
      enableReadyCheck: true,
      scaleReads: 'master',
      slotsRefreshTimeout: 2000,
      clusterRetryStrategy: (times: number) => Math.min(times * 100, 1000),
      redisOptions: { ...common, lazyConnect: false, ...(tls ? { tls } : {}) },
    });
  }
  if (options.sentinels && options.sentinels.length > 0) {
    if (!options.sentinelName)
      throw new CacheValidationError(
        'sentinelName',
        'sentinelName (REDIS_SENTINEL_NAME) is required with sentinels',
      );
    return new Redis({
      ...common,
      sentinels: options.sentinels.map((s, i) => parseHostPort(s, `sentinels[${i}]`)),
      name: options.sentinelName,
      sentinelRetryStrategy: (times: number) => Math.min(times * 100, 1000),
      ...(tls ? { tls, enableTLSForSentinelMode: true } : {}),
    });
  }
  if (!options.url)
    throw new CacheValidationError(
      'url',
      'one of url (REDIS_URL), clusterNodes (REDIS_CLUSTER_NODES) or sentinels (REDIS_SENTINELS) is required',
    );
  if (!/^rediss?:\/\//.test(options.url))
    throw new CacheValidationError('url', 'url (REDIS_URL) must start with redis:// or rediss://');
  // ioredis turns `rediss://` into TLS with the system CAs; explicit options (a private CA) win.
  return new Redis(options.url, { ...common, ...(tls ? { tls } : {}) });
}

/** A description of where the client points, without credentials. */
export function describeTarget(options: RedisConnectionOptions): string {
  if (options.clusterNodes?.length) return `cluster(${options.clusterNodes.length} seed nodes)`;
  if (options.sentinels?.length) return `sentinel(${options.sentinelName ?? '?'})`;
  return options.url?.startsWith('rediss://') ? 'standalone(tls)' : 'standalone';
}

/** How the client is deployed: `cluster`, `sentinel` or `standalone`. */
export function deploymentMode(
  client: RedisClient,
  options: RedisConnectionOptions,
): 'standalone' | 'cluster' | 'sentinel' {
  return client instanceof Cluster
    ? 'cluster'
    : options.sentinels?.length
      ? 'sentinel'
      : 'standalone';
}

/**
 * Connects a lazily created client at start-up, waiting at most `timeoutMs` milliseconds for it to
 * be ready and, on a cluster, for every master's own connection too. Answers `false` when Redis is
 * not reachable in time: the app still starts, the failure is logged and the client keeps
 * reconnecting in the background.
 */
export async function connectAtStartup(
  client: RedisClient,
  timeoutMs: number,
  target: string,
  log: RateLimitedLogger,
): Promise<boolean> {
  // Wait for the `ready` state itself: under load, ioredis' Cluster `connect()` promise can stay
  // pending after the client is ready. Its rejection (Redis down) is logged; the client retries.
  const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()));
  client
    .connect()
    .catch((e: unknown) => log.warn('connect', `redis ${target} connect: ${errorSummary(e)}`));
  try {
    await withTimeout(ready, timeoutMs, 'connect timed out');
    // A cluster is `ready` before each master's own connection is: with no offline queue, the
    // first command to a node still connecting would fail, so start-up waits for them (bounded).
    if (client instanceof Cluster) {
      const pending = client.nodes('master').filter((n) => n.status !== 'ready');
      await withTimeout(
        Promise.all(pending.map((n) => new Promise((resolved) => n.once('ready', resolved)))),
        timeoutMs,
        'cluster nodes not ready',
      );
    }
    return true;
  } catch (e) {
    if (client.status === 'ready') return true;
    log.warn(
      'connect',
      `redis ${target} not reachable at start-up; serving without it and retrying: ${errorSummary(e)}`,
    );
    return false;
  }
}

/**
 * Closes a client: QUIT when connected (pending replies drain), else an immediate disconnect
 * (ioredis' QUIT does not stop a client that is reconnecting).
 */
export async function closeClient(client: RedisClient, log: RateLimitedLogger): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch (e) {
    log.warn('quit', `redis quit failed, disconnecting: ${errorSummary(e)}`);
    client.disconnect();
  }
}

/** Clients whose command-timeout timer list is kept (once per client, however many stores share it). */
const keptTimerLists = new WeakSet<RedisClient>();

/**
 * Keeps Node's timer list for the client's command timeout alive while the client is up. ioredis
 * arms one timer of that duration per command; when no other timer of that duration is pending
 * (one command at a time, the sequential case) every command creates the list, puts it in the
 * timer heap and restarts libuv's timer, and its reply tears it all down again: a few µs of a
 * ~70 µs local GET. An idle, unref'd interval of the same duration keeps the list, so a command's
 * timer is a list append and its reply a list removal. Started on `ready`, stopped on `end`.
 */
export function keepCommandTimerList(client: RedisClient): void {
  const options = client instanceof Cluster ? client.options.redisOptions : client.options;
  const ms = options?.commandTimeout;
  if (keptTimerLists.has(client) || ms === undefined || !(ms >= 1)) return;
  keptTimerLists.add(client);
  let timer: NodeJS.Timeout | undefined;
  const start = () => {
    timer ??= setInterval(() => undefined, ms);
    timer.unref();
  };
  client.on('ready', start);
  client.on('end', () => {
    clearInterval(timer);
    timer = undefined;
  });
  if (client.status === 'ready') start();
}
