import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import {
  CircuitBreaker,
  type BreakerState,
  type CircuitBreakerOptions,
} from '../../util/circuit-breaker.js';
import type { RedisClient } from './redis-connection.js';

/** Hash slots of a Redis Cluster. */
const SLOT_COUNT = 16384;

/** One master of a cluster as the store sees it: its address (internal only) and slot ranges. */
export interface MasterSlots {
  /** `host:port` as ioredis keys it; used to find the breaker, never reported. */
  address: string;
  /** Slot ranges it owns, `[from, to]` inclusive, ascending. */
  ranges: Array<[number, number]>;
}

/**
 * The store's circuit breakers: one for the whole client (standalone and sentinel, and on a
 * cluster the calls that span nodes: SCAN, flush, publish, INFO) and, on a cluster, one per master
 * (slot owner) for calls routed by a key. A sick master then short-circuits only its own slots.
 */
export class NodeBreakers {
  /** The breaker of the whole client (and of cluster calls not routed by a key). */
  readonly global: CircuitBreaker;
  private readonly byMaster = new Map<string, CircuitBreaker>();

  constructor(
    private readonly client: RedisClient,
    private readonly options: CircuitBreakerOptions | undefined,
  ) {
    this.global = new CircuitBreaker(options);
  }

  /** The breaker guarding a call routed by `key`: its master's on a cluster once slots are known, else the global one. */
  for(key: string | undefined): CircuitBreaker {
    const client = this.client;
    if (key === undefined || !(client instanceof Cluster)) return this.global;
    const owner = client.slots[calculateSlot(key)]?.[0];
    return owner === undefined ? this.global : this.ofMaster(owner);
  }

  /** The breaker of the master at `address` (created closed on first use). */
  ofMaster(address: string): CircuitBreaker {
    let breaker = this.byMaster.get(address);
    if (!breaker) {
      breaker = new CircuitBreaker(this.options);
      this.byMaster.set(address, breaker);
    }
    return breaker;
  }

  /** The state of the master's breaker (`closed` when it never saw a call). */
  stateOf(address: string): BreakerState {
    return this.byMaster.get(address)?.state ?? 'closed';
  }

  /** Closes every breaker (the connection just became ready). */
  successAll(): void {
    this.global.success();
    for (const b of this.byMaster.values()) b.success();
  }

  /** Forgets breakers of addresses that own no slot any more (after a failover or resharding). */
  retain(addresses: ReadonlySet<string>): void {
    for (const address of this.byMaster.keys())
      if (!addresses.has(address)) this.byMaster.delete(address);
  }

  /** The masters of a cluster with their slot ranges, ordered by their first slot; empty when not a cluster or slots are unknown. */
  masters(): MasterSlots[] {
    const client = this.client;
    if (!(client instanceof Cluster)) return [];
    const byAddress = new Map<string, Array<[number, number]>>();
    let current: string | undefined;
    let from = 0;
    const close = (to: number) => {
      if (current === undefined) return;
      const ranges = byAddress.get(current) ?? [];
      ranges.push([from, to]);
      byAddress.set(current, ranges);
    };
    for (let slot = 0; slot < SLOT_COUNT; slot++) {
      const owner = client.slots[slot]?.[0];
      if (owner === current) continue;
      close(slot - 1);
      current = owner;
      from = slot;
    }
    close(SLOT_COUNT - 1);
    return [...byAddress.entries()]
      .map(([address, ranges]) => ({ address, ranges }))
      .sort((a, b) => a.ranges[0][0] - b.ranges[0][0]);
  }
}

/** Slot ranges as text: `0-5460` or `0-100,200-300`. */
export function slotRangesText(ranges: ReadonlyArray<[number, number]>): string {
  return ranges.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`)).join(',');
}
