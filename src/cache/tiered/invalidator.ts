import type { CacheStore } from '../stores/cache-store.js';
import { errorSummary, type RateLimitedLogger } from '../util/rate-limited-logger.js';
import type { BusMessage } from './invalidation-bus.js';
import type { L1Cache } from './l1-cache.js';
import {
  coverageOf,
  targetId,
  type InvalidationResult,
  type InvalidationTarget,
} from './invalidation-target.js';

/** Most invalidations kept for replay; past it the oldest is dropped (counted and logged). */
export const MAX_PENDING_INVALIDATIONS = 1000;
/** Most removed keys named in one bus message; past it the message carries the pattern instead. */
const MAX_KEYS_PER_MESSAGE = 1000;

/** An invalidation that L2 or the bus did not take, kept until a replay succeeds. */
interface Pending {
  target: InvalidationTarget;
  /** Epoch ms of the (latest) invalidation: L2 entries produced up to then are not served. */
  at: number;
  covers: (storageKey: string) => boolean;
}

/** What the invalidator needs from the tier stack. */
export interface InvalidatorPorts {
  store: CacheStore;
  l1: L1Cache;
  log: RateLimitedLogger;
  /** Publishes on the bus: `sent`, `failed`, or `none` without a bus. */
  publish(message: BusMessage): Promise<'sent' | 'failed' | 'none'>;
}

/**
 * Invalidations that say what they did. Each one evicts this instance's L1 first (whatever L2
 * does), then removes the keys from L2 and tells the other instances. When L2 or the bus did not
 * take it, it is kept (bounded, latest per target) and replayed — L2 removal and bus message —
 * every `replayIntervalMs` and whenever the bus reconnects, until both succeed. Meanwhile L2
 * entries it covers that were produced before it are read as misses here (`hides`).
 */
export class Invalidator {
  /** Invalidations dropped from a full replay queue. */
  dropped = 0;
  private readonly pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;
  private replaying: Promise<void> | undefined;

  constructor(
    private readonly ports: InvalidatorPorts,
    private readonly replayIntervalMs = 1000,
  ) {}

  /** Invalidations waiting for replay. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Runs one invalidation (see the class comment) and answers what it did. */
  async run(target: InvalidationTarget, at = Date.now()): Promise<InvalidationResult> {
    const l1Evicted = this.evictLocal(target);
    const attempt = await this.attempt(target);
    const complete = attempt.l2 === 'done' && attempt.bus !== 'failed';
    const id = targetId(target);
    if (complete) this.pending.delete(id);
    else this.enqueue(id, { target, at, covers: coverageOf(target) });
    return { ...attempt, l1Evicted, complete, queued: !complete };
  }

  /** True when a pending invalidation covers `storageKey` and came after `asOf`: the L2 value must not be served. */
  hides(storageKey: string, asOf: number): boolean {
    if (this.pending.size === 0) return false;
    for (const p of this.pending.values()) if (asOf <= p.at && p.covers(storageKey)) return true;
    return false;
  }

  /** Replays the pending invalidations in order (one replay at a time); resolves when done. */
  replay(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    this.replaying ??= this.replayOnce().finally(() => (this.replaying = undefined));
    return this.replaying;
  }

  /** Stops the replay timer (shutdown); pending invalidations are kept in memory only. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async replayOnce(): Promise<void> {
    for (const [id, p] of [...this.pending]) {
      const attempt = await this.attempt(p.target);
      if (attempt.l2 !== 'done' || attempt.bus === 'failed') return; // still down: next round
      if (this.pending.get(id) === p) this.pending.delete(id);
    }
    if (this.pending.size === 0) this.stop();
  }

  private enqueue(id: string, p: Pending): void {
    this.pending.delete(id); // re-inserted last, with the latest time
    this.pending.set(id, p);
    if (this.pending.size > MAX_PENDING_INVALIDATIONS) {
      const oldest = this.pending.keys().next().value as string;
      this.pending.delete(oldest);
      this.dropped++;
      this.ports.log.warn(
        'replay-dropped',
        'invalidation replay queue full: the oldest was dropped',
      );
    }
    if (!this.timer) {
      this.timer = setInterval(() => {
        this.replay().catch((e: unknown) =>
          this.ports.log.warn('replay', `invalidation replay failed: ${errorSummary(e)}`),
        );
      }, this.replayIntervalMs);
      this.timer.unref();
    }
  }

  /** Evicts the target's entries from this instance's L1; answers how many. */
  private evictLocal(target: InvalidationTarget): number {
    const { l1 } = this.ports;
    if (target.kind === 'entity') return l1.deleteEntity(target.entity, target.type);
    if (target.kind === 'keys') {
      const before = l1.size;
      for (const k of target.keys) l1.delete(k);
      return before - l1.size;
    }
    return l1.deleteWhere(coverageOf(target));
  }

  /** Removes the target from L2 and tells the other instances; answers how each went. */
  private async attempt(
    target: InvalidationTarget,
  ): Promise<Pick<InvalidationResult, 'deleted' | 'l2' | 'bus'>> {
    const { store } = this.ports;
    const before = failuresOf(store);
    const state = store.describe();
    const collected: string[] = [];
    let deleted = 0;
    if (target.kind === 'keys') {
      for (const k of target.keys) if (await store.delete(k)) deleted++;
    } else {
      const filter = target.kind === 'entity' ? target.matches : target.filter;
      deleted = await store.flushPattern(target.pattern, (k) => {
        if (filter && !filter(k)) return false;
        if (collected.length <= MAX_KEYS_PER_MESSAGE) collected.push(k);
        return true;
      });
    }
    const l2Ok = state.ready && state.breaker !== 'open' && failuresOf(store) === before;
    const bus = await this.ports.publish(messageOf(target, collected, l2Ok));
    return { deleted, l2: l2Ok ? 'done' : 'failed', bus };
  }
}

/** The bus message of a target: the entity, the keys, or (a large or partial flush) the pattern. */
function messageOf(target: InvalidationTarget, removed: string[], l2Ok: boolean): BusMessage {
  if (target.kind === 'entity') return { kind: 'entity', entity: target.entity, type: target.type };
  if (target.kind === 'keys') return { kind: 'keys', keys: [...target.keys] };
  if (l2Ok && removed.length <= MAX_KEYS_PER_MESSAGE) return { kind: 'keys', keys: removed };
  return { kind: 'pattern', pattern: target.pattern };
}

/** Failed and short-circuited calls of a store so far (a change during a call means it failed). */
function failuresOf(store: CacheStore): number {
  const stats = store.getStats() as ReturnType<CacheStore['getStats']> & {
    shortCircuited?: number;
  };
  return stats.errors + (stats.shortCircuited ?? 0);
}
