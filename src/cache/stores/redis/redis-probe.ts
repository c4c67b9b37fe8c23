import { Cluster, type Redis } from 'ioredis';
import type { StoreDescription, StoreNodeDescription } from '../cache-store.js';
import { errorSummary, type RateLimitedLogger } from '../../util/rate-limited-logger.js';
import { withTimeout } from '../../util/with-timeout.js';
import { slotRangesText, type NodeBreakers } from './node-breakers.js';
import type { RedisClient } from './redis-connection.js';
import { parseInfo } from './redis-info.js';

/** Tuning of the background probe. */
export interface RedisProbeOptions {
  /** PING every this many ms (each master on a cluster). Default 1000; 0 turns the probe off. */
  intervalMs?: number;
  /** `INFO memory` on every n-th probe (to see a full `maxmemory` before writes fail). Default 5. */
  infoEvery?: number;
  /** Bound of one PING / INFO, in ms (default: the command timeout). */
  timeoutMs: number;
  /** A write refusal keeps writes reported as refused this long unless a write succeeds since, in ms. Default 30000. */
  refusalHoldMs?: number;
}

/** The probe's view of one node (the server, or one cluster master). */
interface NodeProbe {
  address: string;
  ranges: Array<[number, number]>;
  up: boolean;
  latencyMs?: number;
}

/** Reply errors by which Redis refuses a write while still answering reads. */
const WRITE_REFUSAL = /^(OOM|READONLY|MISCONF|NOREPLICAS|NOTWRITABLE)\b/;

/** True for a reply error by which Redis refuses a write (OOM, READONLY, MISCONF, NOREPLICAS). */
export function isWriteRefusal(error: unknown): boolean {
  return error instanceof Error && WRITE_REFUSAL.test(error.message);
}

/**
 * The Redis store's background probe and the state it keeps: every `intervalMs` it PINGs the
 * server (each master of a cluster, directly, past the breakers) and, less often, reads
 * `INFO memory`; write refusals seen by the store are recorded here too. `describe()` answers
 * from this state (no I/O), so readiness never waits on Redis. Timers are unref'd; `stop()` ends them.
 */
export class RedisProbe {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private rounds = 0;
  private nodes: NodeProbe[] = [];
  private probedAt: number | undefined;
  private memoryFull = false;
  private lastRefusalAt = 0;
  private lastWriteOkAt = 0;
  /** Writes refused by Redis (OOM, READONLY, …) since start. */
  writeRefusals = 0;
  private readonly intervalMs: number;
  private readonly infoEvery: number;
  private readonly refusalHoldMs: number;

  constructor(
    private readonly client: RedisClient,
    private readonly breakers: NodeBreakers,
    private readonly options: RedisProbeOptions,
    private readonly log: RateLimitedLogger,
    private readonly now: () => number = Date.now,
  ) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.infoEvery = Math.max(1, options.infoEvery ?? 5);
    this.refusalHoldMs = options.refusalHoldMs ?? 30_000;
  }

  /** Starts probing (at once, then every `intervalMs`); idempotent; off when `intervalMs` is 0. */
  start(): void {
    if (this.timer || this.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.probe(), this.intervalMs);
    this.timer.unref();
    void this.probe();
  }

  /** Stops probing. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Records a write Redis refused. */
  refused(): void {
    this.writeRefusals++;
    this.lastRefusalAt = this.now();
  }

  /** Records a write Redis accepted. */
  wrote(): void {
    this.lastWriteOkAt = this.now();
  }

  /** True when Redis refuses writes: a recent refusal with no accepted write since, or `INFO` shows `maxmemory` reached under `noeviction`. */
  get rejectingWrites(): boolean {
    const recent =
      this.lastRefusalAt > this.lastWriteOkAt &&
      this.now() - this.lastRefusalAt < this.refusalHoldMs;
    return recent || this.memoryFull;
  }

  /** One probe round: PING every master (bounded), and `INFO memory` every `infoEvery` rounds. Never throws; a call during a round joins it. */
  probe(): Promise<void> {
    this.inFlight ??= this.round().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  /** PINGs every node, reads INFO when due, and records what it found. */
  private async round(): Promise<void> {
    const withInfo = this.rounds++ % this.infoEvery === 0;
    const targets = this.targets();
    const results = await Promise.all(targets.map((t) => this.probeNode(t.node, withInfo)));
    this.nodes = targets.map((t, i) => ({
      address: t.address,
      ranges: t.ranges,
      up: results[i].latencyMs !== undefined,
      latencyMs: results[i].latencyMs,
    }));
    if (withInfo) {
      const infos = results.flatMap((r) => (r.info ? [r.info] : []));
      if (infos.length) this.memoryFull = infos.some(memoryFull);
    }
    // A master that answers PING within the timeout is serving again: close its breaker now,
    // rather than after one trial call per `openMs` (recovery without waiting for traffic).
    if (this.client instanceof Cluster) {
      this.breakers.retain(new Set(targets.map((t) => t.address)));
      this.nodes.forEach(
        (n) =>
          n.up &&
          this.breakers.stateOf(n.address) !== 'closed' &&
          this.breakers.ofMaster(n.address).success(),
      );
    }
    this.probedAt = this.now();
  }

  /** The nodes to probe: the server, or each master of a cluster with its slot ranges. */
  private targets(): Array<{ address: string; ranges: Array<[number, number]>; node?: Redis }> {
    const client = this.client;
    if (!(client instanceof Cluster)) return [{ address: '', ranges: [], node: client }];
    const byAddress = new Map(
      client.nodes('master').map((n) => [`${n.options.host}:${n.options.port}`, n]),
    );
    return this.breakers
      .masters()
      .map((m) => ({ address: m.address, ranges: m.ranges, node: byAddress.get(m.address) }));
  }

  /** PINGs one node (and reads `INFO memory` when asked) within the timeout. */
  private async probeNode(
    node: Redis | undefined,
    withInfo: boolean,
  ): Promise<{ latencyMs?: number; info?: Record<string, string> }> {
    if (!node || node.status !== 'ready') return {};
    const t0 = process.hrtime.bigint();
    try {
      const pong = await withTimeout(node.ping(), this.options.timeoutMs, 'ping timed out');
      const latencyMs = Math.round(Number(process.hrtime.bigint() - t0) / 1000) / 1000;
      if (pong !== 'PONG') return {};
      if (!withInfo) return { latencyMs };
      const text = await withTimeout(node.info('memory'), this.options.timeoutMs, 'info timed out');
      return { latencyMs, info: parseInfo(text) };
    } catch (e) {
      this.log.warn('probe', `redis probe failed: ${errorSummary(e)}`);
      return {};
    }
  }

  /** The probe's part of `describe()`: status, reasons, latency, per-master states; from memory. */
  describe(
    ready: boolean,
  ): Pick<
    StoreDescription,
    'status' | 'reasons' | 'latencyMs' | 'probedAt' | 'nodes' | 'rejectingWrites'
  > {
    const reasons: string[] = [];
    const cluster = this.client instanceof Cluster;
    const nodes: StoreNodeDescription[] | undefined = cluster
      ? this.nodes.map((n, index) => {
          const breaker = this.breakers.stateOf(n.address);
          const slots = slotRangesText(n.ranges);
          if (!n.up) reasons.push(`redis_master_down: master ${index} (slots ${slots})`);
          else if (breaker === 'open')
            reasons.push(`redis_master_breaker_open: master ${index} (slots ${slots})`);
          return {
            index,
            slots,
            status: n.up && ready ? 'up' : 'down',
            breaker,
            latencyMs: n.latencyMs,
          };
        })
      : undefined;
    const probed = this.probedAt !== undefined;
    const allDown = probed && this.nodes.length > 0 && this.nodes.every((n) => !n.up);
    const down = !ready || allDown;
    if (!ready) reasons.unshift('redis_disconnected');
    else if (allDown && !cluster) reasons.unshift('redis_ping_failed');
    const rejectingWrites = this.rejectingWrites;
    if (rejectingWrites) reasons.push('redis_rejecting_writes');
    const latencies = this.nodes.flatMap((n) => (n.latencyMs === undefined ? [] : [n.latencyMs]));
    return {
      status: down ? 'down' : reasons.length ? 'degraded' : 'up',
      reasons,
      latencyMs: latencies.length ? Math.max(...latencies) : undefined,
      probedAt: this.probedAt,
      ...(nodes ? { nodes } : {}),
      rejectingWrites,
    };
  }
}

/** True when `INFO memory` shows `maxmemory` reached under `noeviction` (writes that need memory fail). */
function memoryFull(info: Record<string, string>): boolean {
  const max = Number(info.maxmemory);
  return (
    Number.isFinite(max) &&
    max > 0 &&
    info.maxmemory_policy === 'noeviction' &&
    Number(info.used_memory) >= max
  );
}
