import calculateSlot from 'cluster-key-slot';
import type { GuardedCall } from './redis-connection.js';

/** What the coalescer needs from its store. */
export interface ReadCoalescerOptions {
  /** The store's guarded path: every command goes through it. */
  guard: GuardedCall;
  /** True on a cluster: one MGET per hash slot instead of one for the whole batch. */
  cluster: boolean;
  /** False sends every read on its own (no batching). */
  enabled: boolean;
}

type Waiter = (value: string | undefined) => void;
/** The waiters of one key: one function (the usual case, no array), or several. */
type Waiters = Waiter | Waiter[];

/**
 * The store's value reads. A single-key `get` goes out at once when no other read is in flight
 * (sequential reads pay nothing); while reads overlap, the ones issued in the same tick are sent
 * together as one MGET (per hash slot on a cluster) and every waiter of a key gets its value.
 * `getMany` sends an explicit batch the same way.
 */
export class ReadCoalescer {
  private pending: Map<string, Waiters> | undefined;
  /** Read commands sent and not yet answered: while any is out, new reads are batched. */
  private readsInFlight = 0;
  /** Reads answered with a value since start. */
  hits = 0;
  /** Reads answered as a miss (absent key or failure) since start. */
  misses = 0;
  private readonly guard: GuardedCall;
  private readonly cluster: boolean;
  private readonly enabled: boolean;

  constructor(options: ReadCoalescerOptions) {
    this.guard = options.guard;
    this.cluster = options.cluster;
    this.enabled = options.enabled;
  }

  /** The value of `key`, or `undefined` on a miss or a failure (counted either way). */
  get(key: string): Promise<string | undefined> {
    if (!this.enabled || (this.readsInFlight === 0 && this.pending === undefined)) {
      this.readsInFlight++;
      return this.guard<string | null>('get', null, (c) => c.get(key), key).then((value) => {
        this.readsInFlight--;
        return this.count(value ?? undefined);
      });
    }
    return new Promise((resolve) => {
      if (!this.pending) {
        this.pending = new Map();
        queueMicrotask(() => this.flush());
      }
      const waiters = this.pending.get(key);
      if (waiters === undefined) this.pending.set(key, resolve);
      else if (typeof waiters === 'function') this.pending.set(key, [waiters, resolve]);
      else waiters.push(resolve);
    });
  }

  /** Values of many keys, in order: one MGET on a standalone server, one per hash slot on a cluster. */
  async getMany(keys: readonly string[]): Promise<(string | undefined)[]> {
    if (keys.length === 0) return [];
    const { guard } = this;
    if (!this.cluster) {
      const values = await guard('mget', NO_VALUES, (c) => c.mgetBuffer(keys as string[]));
      const out = new Array<string | undefined>(keys.length);
      for (let i = 0; i < keys.length; i++) out[i] = this.count(textOf(values[i]));
      return out;
    }
    const out = new Array<string | undefined>(keys.length);
    await Promise.all(
      groupBySlot(keys).map(async (indexes) => {
        const values = await guard(
          'mget',
          NO_VALUES,
          (c) => c.mgetBuffer(indexes.map((i) => keys[i])),
          keys[indexes[0]],
        );
        indexes.forEach((i, j) => (out[i] = this.count(textOf(values[j]))));
      }),
    );
    return out;
  }

  /** Counts a read as a hit or a miss and answers it unchanged. */
  private count(value: string | undefined): string | undefined {
    if (value === undefined) this.misses++;
    else this.hits++;
    return value;
  }

  /** Sends the reads queued in this tick: one GET alone, else MGET (per slot on a cluster). */
  private flush(): void {
    const batch = this.pending;
    this.pending = undefined;
    if (!batch) return;
    const { guard } = this;
    const keys = [...batch.keys()];
    // Answers every waiter of the keys at `positions` (in `keys`) with the values read for them.
    // A failed MGET answers `[]`: every key of the group is then a miss.
    const settle = (
      positions: readonly number[] | undefined,
      values: readonly (string | null | undefined)[],
    ) => {
      this.readsInFlight--;
      const size = positions ? positions.length : keys.length;
      for (let j = 0; j < size; j++) {
        const v = this.count(values[j] ?? undefined);
        const waiters = batch.get(keys[positions ? positions[j] : j]);
        if (typeof waiters === 'function') waiters(v);
        else if (waiters) for (const resolve of waiters) resolve(v);
      }
    };
    // One group on a standalone server (all keys), one per hash slot on a cluster.
    const groups = this.cluster ? groupBySlot(keys) : [undefined];
    for (const positions of groups) {
      this.readsInFlight++;
      const size = positions ? positions.length : keys.length;
      if (size === 1) {
        const key = keys[positions ? positions[0] : 0];
        void guard('get', undefined, (c) => c.get(key).then(nullToUndefined), key).then((v) =>
          settle(positions, [v]),
        );
      } else {
        const group = positions ? positions.map((i) => keys[i]) : keys;
        void guard('mget', NO_VALUES, (c) => c.mgetBuffer(group), group[0]).then((vs) =>
          settle(positions, vs.map(textOf)),
        );
      }
    }
  }
}

/**
 * Groups keys by cluster hash slot, so that each group can go in one multi-key command. Answers
 * positions in `keys`, one array per slot, in first-seen order (callers on a standalone server
 * send everything as one group and need no grouping).
 */
export function groupBySlot(keys: readonly string[]): number[][] {
  const bySlot = new Map<number, number[]>();
  for (let i = 0; i < keys.length; i++) {
    const slot = calculateSlot(keys[i]);
    const group = bySlot.get(slot);
    if (group) group.push(i);
    else bySlot.set(slot, [i]);
  }
  return [...bySlot.values()];
}

/** What a failed MGET answers: every key of it is then a miss. */
const NO_VALUES: readonly (Buffer | null)[] = [];

/**
 * The text of a value MGET answered as bytes (`undefined`: no such key, or none answered).
 *
 * MGET asks for bytes and decodes them here. With strings, ioredis' parser decodes each value
 * into the reply array while the reply is still arriving; a reply of many large values spans
 * several socket reads, so that array often outlived a young-generation collection. V8 then
 * allocated such arrays in the old generation, and every value stored into one survived each
 * young collection and was copied: a five-year range read from Redis (62 values, 130 KB) spent
 * a third of its time in collections of 11-15 ms until V8 changed its mind, thousands of reads
 * later. As bytes, the values live outside the JS heap until each is decoded here at once, into
 * a string that dies young.
 */
function textOf(value: Buffer | null | undefined): string | undefined {
  return value === null || value === undefined ? undefined : value.toString('utf8');
}

/** Maps ioredis' `null` (no such key) to `undefined`. */
function nullToUndefined(v: string | null): string | undefined {
  return v === null ? undefined : v;
}
