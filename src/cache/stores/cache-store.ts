import { CacheValidationError } from '../errors/cache-errors.js';
import { assertTtlMs, positiveInteger } from '../util/arguments.js';

/**
 * The one interface every L2 driver implements (RedisCache, MemoryStore, FileStore).
 *
 * Drivers store strings; serialization lives above them (TieredCache). Every key a driver
 * writes has a TTL. Drivers never throw for a failing backend: they answer a miss, `false`,
 * `0` or `undefined` within their timeout and count the error (`StoreStats.errors`).
 * They do throw `CacheValidationError` for bad arguments (a non-positive TTL, say).
 */
export interface CacheStore {
  /** Driver kind, reported as the source of values served from it. */
  readonly kind: 'redis' | 'memory' | 'file';

  /** Opens connections / directories. Resolves even when the backend is down (it is retried). */
  connect(): Promise<void>;
  /** Closes what `connect` opened. */
  disconnect(): Promise<void>;

  /** The value of `key`, or `undefined` (miss or error). */
  get(key: string): Promise<string | undefined>;
  /**
   * Stores `value` under `key` for `ttlMs` milliseconds. Without `options`, answers `false` when it
   * could not be stored. With `options`, answers the `WriteOutcome`; with `options.asOf` the write
   * is monotonic: it is refused (`kept-newer`) when the stored entry has a larger `asOf`.
   */
  set<O extends WriteOptions | undefined = undefined>(
    key: string,
    value: string,
    ttlMs: number,
    options?: O,
  ): Promise<SetAnswer<O>>;
  /** Removes `key`. `true` when a key was removed. */
  delete(key: string): Promise<boolean>;
  /** True when `key` exists. */
  exists(key: string): Promise<boolean>;
  /** Remaining time to live of `key` in milliseconds; -2 when missing (or on error), -1 when it has none. */
  ttl(key: string): Promise<number>;
  /** Resets the TTL of an existing key, in milliseconds. `true` when the key exists. */
  expire(key: string, ttlMs: number): Promise<boolean>;
  /** Stored keys matching a glob `pattern` (SCAN-style, never a blocking KEYS). */
  keys(pattern: string): Promise<string[]>;
  /** Values of many keys in as few round trips as possible, in order (`undefined` for misses). */
  pipelineGet(keys: readonly string[]): Promise<(string | undefined)[]>;
  /**
   * Stores many entries in as few round trips as possible; an entry with an `asOf` is written only
   * when no stored entry has a larger one (as `set` does). Answers `false` when any could not be
   * stored (an entry kept newer is not a failure); with `{ outcomes: true }`, each entry's outcome,
   * in order.
   */
  pipelineSet<O extends BatchWriteOptions | undefined = undefined>(
    entries: readonly StoreEntry[],
    options?: O,
  ): Promise<BatchAnswer<O>>;
  /**
   * Removes every key matching `pattern` (and, when given, accepted by `filter`), in batches.
   * Answers how many keys were removed.
   */
  flushPattern(pattern: string, filter?: (key: string) => boolean): Promise<number>;

  /**
   * Atomically adds 1 (or `options.by`) to the integer counter at `key`, giving it a TTL of
   * `ttlMs` when it has none (a missing counter is created with it; an existing one keeps its own).
   * With `options.maxTtlMs`, an existing counter living longer than that belongs to a later window:
   * nothing is added and the answer says `laterWindow`. Answers the value and the remaining TTL in
   * ms, or `undefined` when the store could not answer.
   * @throws CacheValidationError for a bad `ttlMs`, `by` or `maxTtlMs`.
   */
  increment(
    key: string,
    ttlMs: number,
    options?: CounterOptions,
  ): Promise<CounterValue | undefined>;
  /** Sets `key` to `token` only if absent, for `ttlMs` ms: a lock. 'unavailable' when the store cannot answer. */
  acquireLock(
    key: string,
    token: string,
    ttlMs: number,
  ): Promise<'acquired' | 'busy' | 'unavailable'>;
  /** Deletes `key` only if it still holds `token` (atomic). */
  releaseLock(key: string, token: string): Promise<boolean>;

  /** Health of the backend; never throws. */
  getHealth(): Promise<StoreHealth>;
  /** Counters since start. */
  getStats(): StoreStats;
  /**
   * `getStats().errors` without building the stats object: the read path samples it around
   * every L2 read. Optional; callers fall back to `getStats()`.
   */
  errorCount?(): number;
  /** What the store is doing now, read from memory (no I/O); for health, metrics and readiness. */
  describe(): StoreDescription;
  /** Cross-instance messages, for stores shared between processes (Redis); absent on per-process stores. */
  readonly pubsub?: StorePubSub;
}

/** A store's state as `describe()` reports it, from memory. */
export interface StoreDescription {
  kind: CacheStore['kind'];
  /** Deployment: `standalone`, `cluster` or `sentinel` for Redis; `embedded` for memory and file stores. */
  mode: 'standalone' | 'cluster' | 'sentinel' | 'embedded';
  /** True when the store can answer commands now. */
  ready: boolean;
  /** Circuit breaker state, for stores that have one (on a cluster: of calls not routed by a key). */
  breaker?: 'closed' | 'open' | 'half-open';
  /**
   * From the store's background probe (Redis): `down` when disconnected or no node answered the
   * last PING, `degraded` when some master is down, a master's breaker is open or writes are
   * refused. Absent on stores without a probe.
   */
  status?: 'up' | 'degraded' | 'down';
  /** Why the status is not `up` (e.g. `redis_rejecting_writes`), without host names. */
  reasons?: string[];
  /** Round trip of the last probe PING (the slowest master on a cluster), in ms. */
  latencyMs?: number;
  /** When the last probe completed (epoch ms); absent before the first one. */
  probedAt?: number;
  /** Each master of a cluster, by index in slot order. */
  nodes?: StoreNodeDescription[];
  /** True while the backend refuses writes (OOM under noeviction, READONLY, …); reads still work. */
  rejectingWrites?: boolean;
}

/** One master of a cluster as `describe()` reports it: no host names. */
export interface StoreNodeDescription {
  /** Position among the masters, ordered by first slot. */
  index: number;
  /** Slot ranges it owns, e.g. `0-5460`. */
  slots: string;
  /** `down` when it did not answer the last probe PING. */
  status: 'up' | 'down';
  /** The breaker of calls routed to its slots. */
  breaker: 'closed' | 'open' | 'half-open';
  /** Round trip of its last probe PING, in ms. */
  latencyMs?: number;
}

/** A subscription opened through `StorePubSub.subscribe`. */
export interface StoreSubscription {
  /** True while the subscription is live (connection ready and subscribed). */
  readonly connected: boolean;
  /** Closes the subscription and its connection. */
  close(): Promise<void>;
}

/** Handlers of a subscription. */
export interface StoreSubscriptionHandlers {
  /** A message published on the channel (by any instance, this one included). */
  onMessage(message: string): void;
  /** The subscription came back after a drop: messages may have been missed meanwhile. */
  onResubscribed(): void;
}

/** Publish/subscribe on a store shared between processes: the port the invalidation bus speaks. */
export interface StorePubSub {
  /** Publishes `message` on `channel`. `false` when it could not be sent (counted by the store). */
  publish(channel: string, message: string): Promise<boolean>;
  /** Subscribes to `channel` on a connection of its own; resolves once started (in the background when the backend is down). */
  subscribe(channel: string, handlers: StoreSubscriptionHandlers): Promise<StoreSubscription>;
}

/** Options of `CacheStore.increment`. */
export interface CounterOptions {
  /** What to add: a positive integer. Default 1. */
  by?: number;
  /** Add nothing to an existing counter that lives longer than this, in ms (it is a later window's). */
  maxTtlMs?: number;
}

/** What `CacheStore.increment` answers. */
export interface CounterValue {
  /** The counter's value after the call. */
  value: number;
  /** Its remaining time to live, in milliseconds. */
  ttlMs: number;
  /** Present when nothing was added: the counter lives longer than `maxTtlMs` (a later window's). */
  laterWindow?: true;
}

/** Checks the arguments of `CacheStore.increment` (`CacheValidationError` naming the field). */
export function checkCounterArgs(ttlMs: number, options?: CounterOptions): void {
  assertTtlMs(ttlMs);
  if (options?.by !== undefined) positiveInteger(options.by, 'by');
  if (options?.maxTtlMs !== undefined) assertTtlMs(options.maxTtlMs, 'maxTtlMs');
}

/** One entry of `pipelineSet`. */
export interface StoreEntry {
  key: string;
  value: string;
  /** Time to live in milliseconds. */
  ttlMs: number;
  /** When the value was produced (epoch ms): present on tiered entries, it makes the write monotonic. */
  asOf?: number;
}

/** Options of `CacheStore.set`. */
export interface WriteOptions {
  /**
   * When the value was produced (epoch ms); the value must be a tiered entry (`encodeEntry`). The
   * write is refused when the stored entry has a larger `asOf` (an equal one is overwritten: the
   * write is idempotent); a missing, non-entry or corrupt stored value is overwritten.
   */
  asOf?: number;
}

/** Options of `CacheStore.pipelineSet`. */
export interface BatchWriteOptions {
  /** Answer each entry's outcome rather than one boolean. */
  outcomes: true;
}

/** What a write did: stored, refused because the stored entry is newer, or not stored (backend down, refused). */
export type WriteOutcome = 'written' | 'kept-newer' | 'failed';

/** What `set` answers: a boolean without options, the `WriteOutcome` with them (either for options that may be absent). */
export type SetAnswer<O> = [O] extends [undefined]
  ? boolean
  : [O] extends [WriteOptions]
    ? WriteOutcome
    : boolean | WriteOutcome;
/** What `pipelineSet` answers: a boolean, or each entry's outcome with `{ outcomes: true }`. */
export type BatchAnswer<O> = [O] extends [undefined]
  ? boolean
  : [O] extends [BatchWriteOptions]
    ? WriteOutcome[]
    : boolean | WriteOutcome[];

/** `set`'s answer for `options` from the outcome (`true` unless it failed, without options). */
export function setAnswer<O>(options: O, outcome: WriteOutcome): SetAnswer<O> {
  return (options === undefined ? outcome !== 'failed' : outcome) as SetAnswer<O>;
}

/** `pipelineSet`'s answer for `options` from the entries' outcomes. */
export function batchAnswer<O>(options: O, outcomes: WriteOutcome[]): BatchAnswer<O> {
  return (options === undefined ? !outcomes.includes('failed') : outcomes) as BatchAnswer<O>;
}

/**
 * The tail of a stored tiered entry: `encodeEntry` writes the value first and the timeline last
 * (`…,"a":asOf,"s":staleAt,"e":expiresAt,"k":keepUntil}`), so the `asOf` is read from the end of
 * the text without decoding the value (a value cannot fake the tail: the tail follows it). The Lua
 * script of the Redis store matches the same tail.
 */
const ENTRY_TAIL = /,"a":(-?[\d.eE+-]+),"s":-?[\d.eE+-]+,"e":-?[\d.eE+-]+,"k":-?[\d.eE+-]+\}$/;

/** The `asOf` of stored entry text, or `undefined` when the text is not a tiered entry. */
export function storedAsOf(text: string): number | undefined {
  const m = ENTRY_TAIL.exec(text);
  if (m === null) return undefined;
  const asOf = Number(m[1]);
  return Number.isFinite(asOf) ? asOf : undefined;
}

/** True when a monotonic write of `asOf` must leave `stored` as it is (its `asOf` is larger). */
export function storedIsNewer(stored: string | undefined, asOf: number | undefined): boolean {
  if (stored === undefined || asOf === undefined) return false;
  const current = storedAsOf(stored);
  return current !== undefined && current > asOf;
}

/** Checks a write's `asOf` (`CacheValidationError` naming `field`): an instant in epoch ms. */
export function checkAsOf(asOf: number | undefined, field = 'asOf'): void {
  if (asOf === undefined) return;
  if (typeof asOf !== 'number' || !Number.isFinite(asOf) || asOf < 0 || asOf > 8.64e15)
    throw new CacheValidationError(field, `${field} must be an instant in epoch ms`);
}

/** Health of a store as `getHealth` reports it. */
export interface StoreHealth {
  status: 'up' | 'down';
  kind: CacheStore['kind'];
  connected: boolean;
  /** Round trip of a PING (or the equivalent), in milliseconds. */
  latencyMs?: number;
  /** Why the store is down, without host names or secrets. */
  reason?: string;
  [detail: string]: unknown;
}

/** Counters of a store since start. */
export interface StoreStats {
  hits: number;
  misses: number;
  errors: number;
  /** Circuit breaker state, for stores that have one. */
  breaker?: 'closed' | 'open' | 'half-open';
  /** Writes the backend refused (OOM, READONLY, …), also counted in `errors`; for stores that can tell. */
  writeRefusals?: number;
  /** True while the backend refuses writes; for stores that can tell. */
  rejectingWrites?: boolean;
}
