/**
 * A private Redis Cluster made of harness `redis-server` children, created with
 * `redis-cli --cluster create`, plus the parsing of `CLUSTER NODES` that tests and the readiness
 * check use.
 */
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';
import { AddressInUseError, RedisServerProcess } from './redis-process.js';
import { parseInfo, redisCommandAt } from './resp-client.js';

const REDIS_CLI_NOT_FOUND =
  'redis-cli not found on PATH: install it (Debian/Ubuntu: apt-get install redis-tools; macOS: brew install redis)';

const CLUSTER_READY_TIMEOUT_MS = 20_000;
const CLUSTER_CREATE_TIMEOUT_MS = 60_000;
const READY_POLL_INTERVAL_MS = 100;
const NODE_START_ATTEMPTS = 5;
const DEFAULT_NODE_TIMEOUT_MS = 5000;

/** Address of one cluster node. */
export interface NodeAddress {
  host: string;
  port: number;
}

/** One line of `CLUSTER NODES`, parsed. */
export interface ClusterNodeInfo {
  id: string;
  host: string;
  port: number;
  flags: string[];
  /** Node id of the master for replicas, `undefined` for masters. */
  masterId: string | undefined;
  connected: boolean;
  /** Slot ranges as `[from, to]` (inclusive); empty for replicas. */
  slots: Array<[number, number]>;
}

/** Parses the text of a `CLUSTER NODES` reply. */
export function parseClusterNodes(text: string): ClusterNodeInfo[] {
  const nodes: ClusterNodeInfo[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const [id, addr, flags, master, , , , link, ...slotParts] = line.split(' ');
    const hostPort = addr.split('@')[0];
    const idx = hostPort.lastIndexOf(':');
    const slots: Array<[number, number]> = [];
    for (const part of slotParts) {
      if (part.startsWith('[')) continue; // migrating/importing markers
      const [from, to] = part.split('-').map(Number);
      slots.push([from, to ?? from]);
    }
    nodes.push({
      id,
      host: hostPort.slice(0, idx),
      port: Number(hostPort.slice(idx + 1)),
      flags: flags.split(','),
      masterId: master === '-' ? undefined : master,
      connected: link === 'connected',
      slots,
    });
  }
  return nodes;
}

/** Fetches and parses `CLUSTER NODES` from the node on `port`. */
export async function clusterNodes(port: number): Promise<ClusterNodeInfo[]> {
  return parseClusterNodes(await redisCommandAt({ port, timeoutMs: 5_000 }, 'CLUSTER', 'NODES'));
}

function runRedisCli(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'redis-cli',
      args,
      { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') reject(new Error(REDIS_CLI_NOT_FOUND));
          else
            reject(
              new Error(`redis-cli ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`),
            );
          return;
        }
        resolve(stdout);
      },
    );
  });
}

/** Starts one cluster-enabled node on a port whose bus port is free too; retries a bind race. */
async function startClusterNode(nodeTimeoutMs: number): Promise<RedisServerProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < NODE_START_ATTEMPTS; attempt++) {
    const port = await freePort({ clusterBus: true });
    try {
      return await RedisServerProcess.start({
        port,
        args: [
          '--cluster-enabled',
          'yes',
          '--cluster-node-timeout',
          String(nodeTimeoutMs),
          '--cluster-config-file',
          `nodes-${port}.conf`,
          // Replicas full-sync immediately instead of after the default 5 s diskless delay.
          '--repl-diskless-sync-delay',
          '0',
        ],
      });
    } catch (e) {
      if (!(e instanceof AddressInUseError)) throw e;
      lastError = e;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

/** True for a node that is neither failed nor suspected failed. */
function notFailing(node: ClusterNodeInfo): boolean {
  return !node.flags.some((f) => f === 'fail' || f === 'fail?');
}

/** Options for {@link RedisClusterProcess.start}. */
export interface RedisClusterOptions {
  /** Number of masters (default 3, minimum 3 for `redis-cli --cluster create`). */
  masters?: number;
  /** Replicas per master (default 1). */
  replicasPerMaster?: number;
  /**
   * `cluster-node-timeout` in ms (default 5000). Failover tests want it short (1000: failover in
   * ≈ 2 s); the shared cluster keeps it long so a loaded 2-core machine never triggers spurious failovers.
   */
  nodeTimeoutMs?: number;
}

/** A private Redis Cluster made of `redis-server` children (default 3 masters + 3 replicas). */
export class RedisClusterProcess {
  /** Addresses of all nodes, in creation order (first `masters` were created as masters). */
  readonly nodes: NodeAddress[];
  /** `127.0.0.1:P1,127.0.0.1:P2,...` — the format of env `REDIS_CLUSTER_NODES`. */
  readonly nodeList: string;

  private constructor(
    /** The underlying server processes (for fault injection: kill/pause a node). */
    readonly servers: RedisServerProcess[],
  ) {
    this.nodes = servers.map((s) => ({ host: s.host, port: s.port }));
    this.nodeList = this.nodes.map((n) => `${n.host}:${n.port}`).join(',');
  }

  /**
   * Starts `masters * (1 + replicasPerMaster)` cluster-enabled nodes, runs
   * `redis-cli --cluster create ... --cluster-yes`, and waits (20 s max) until every node reports
   * `cluster_state:ok`, all 16384 slots ok, all nodes known and every replica's link is up.
   */
  static async start(opts: RedisClusterOptions = {}): Promise<RedisClusterProcess> {
    const masters = opts.masters ?? 3;
    const replicas = opts.replicasPerMaster ?? 1;
    const total = masters * (1 + replicas);
    const servers: RedisServerProcess[] = [];
    try {
      // 1. Start every node; keep the ones that came up so a failure stops them all.
      const started = await Promise.allSettled(
        Array.from({ length: total }, () =>
          startClusterNode(opts.nodeTimeoutMs ?? DEFAULT_NODE_TIMEOUT_MS),
        ),
      );
      for (const r of started) if (r.status === 'fulfilled') servers.push(r.value);
      const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      // 2. Join them into a cluster, then wait until every node agrees it is healthy.
      const cluster = new RedisClusterProcess(servers);
      await runRedisCli(
        [
          '--cluster',
          'create',
          ...cluster.nodes.map((n) => `${n.host}:${n.port}`),
          '--cluster-replicas',
          String(replicas),
          '--cluster-yes',
        ],
        CLUSTER_CREATE_TIMEOUT_MS,
      );
      await cluster.waitUntilReady(CLUSTER_READY_TIMEOUT_MS);
      return cluster;
    } catch (e) {
      await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
      throw e;
    }
  }

  /** PIDs of the currently running node processes. */
  get pids(): number[] {
    return this.servers.map((s) => s.pid).filter((p): p is number => typeof p === 'number');
  }

  /**
   * Polls until all running nodes agree the cluster is healthy (see {@link start}).
   * Useful after fault injection (e.g. a node restart). Throws with the last observation on timeout.
   */
  async waitUntilReady(timeoutMs = CLUSTER_READY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no observation yet';
    while (Date.now() < deadline) {
      try {
        const problem = await this.healthProblem();
        if (!problem) return;
        last = problem;
      } catch (e) {
        last = (e as Error).message;
      }
      await sleep(READY_POLL_INTERVAL_MS);
    }
    throw new Error(`Redis cluster (${this.nodeList}) not ready after ${timeoutMs} ms: ${last}`);
  }

  /** Ports of the nodes currently flagged `master` (and not failed), ascending. */
  async masterPorts(): Promise<number[]> {
    return this.portsFlagged('master');
  }

  /** Ports of the nodes currently flagged `slave` (replicas), ascending. */
  async replicaPorts(): Promise<number[]> {
    return this.portsFlagged('slave');
  }

  /** Stops every node (SIGTERM, SIGKILL after 3 s) and removes their temp dirs. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
  }

  private async portsFlagged(role: 'master' | 'slave'): Promise<number[]> {
    return (await this.liveNodeInfo())
      .filter((n) => n.flags.includes(role) && notFailing(n))
      .map((n) => n.port)
      .sort((a, b) => a - b);
  }

  private async liveNodeInfo(): Promise<ClusterNodeInfo[]> {
    let lastError: unknown = new Error('no running cluster node');
    for (const server of this.servers) {
      if (!server.isRunning) continue;
      try {
        return await clusterNodes(server.port);
      } catch (e) {
        lastError = e;
      }
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }

  /** The first reason the cluster is not healthy yet, or `undefined` when it is. */
  private async healthProblem(): Promise<string | undefined> {
    const running = this.servers.filter((s) => s.isRunning);
    for (const server of running) {
      const info = parseInfo(
        await redisCommandAt({ port: server.port, timeoutMs: 2_000 }, 'CLUSTER', 'INFO'),
      );
      if (info.cluster_state !== 'ok')
        return `node ${server.port}: cluster_state:${info.cluster_state}`;
      if (info.cluster_slots_ok !== '16384')
        return `node ${server.port}: cluster_slots_ok:${info.cluster_slots_ok}`;
      if (Number(info.cluster_known_nodes) < running.length) {
        return `node ${server.port}: cluster_known_nodes:${info.cluster_known_nodes}`;
      }
      const repl = parseInfo(
        await redisCommandAt({ port: server.port, timeoutMs: 2_000 }, 'INFO', 'replication'),
      );
      if (repl.role === 'slave' && repl.master_link_status !== 'up') {
        return `replica ${server.port}: master_link_status:${repl.master_link_status}`;
      }
    }
    return undefined;
  }
}
