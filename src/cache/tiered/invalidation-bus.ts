import type { StorePubSub, StoreSubscription } from '../stores/cache-store.js';
import { RateLimitedLogger, errorSummary } from '../util/rate-limited-logger.js';

/**
 * What one instance tells the others. Keys, an entity (every key of one ticker, optionally of one
 * key type: the receiver finds them in its L1 entity index), or a pattern; never values.
 */
export type BusMessage =
  | {
      kind: 'keys';
      keys: string[];
      /**
       * After a write: the written `asOf` of each key (epoch ms, in step with `keys`). A receiver
       * keeps an L1 entry with a larger `asOf` and evicts the rest (a tie is evicted: in L2 the
       * later write won); without it (an invalidation, an older sender) every key is evicted.
       */
      asOf?: number[];
    }
  | { kind: 'entity'; entity: string; type?: string }
  | { kind: 'pattern'; pattern: string }
  | { kind: 'namespace'; namespace: string; version: string }
  | { kind: 'all' };

interface Wire {
  i: string;
  k?: string[];
  /** The `asOf` of each key of `k` (a write); absent for an invalidation. */
  w?: number[];
  e?: string;
  t?: string;
  p?: string;
  n?: string;
  v?: string;
  a?: 1;
}

/**
 * Cross-instance L1 invalidation over the store's pub/sub port. The store publishes on its shared
 * connection and keeps a subscriber connection of its own for the bus. Messages carry the sender's
 * instance id, so an instance ignores its own. When the subscription comes back after a drop,
 * `onMessage({ kind: 'all' })` is called: messages may have been missed, so the L1 must be cleared.
 */
export class InvalidationBus {
  private subscription: StoreSubscription | undefined;
  private stopped = false;
  private readonly log = new RateLimitedLogger(InvalidationBus.name);
  /** Messages received from other instances. */
  received = 0;

  constructor(
    private readonly pubsub: StorePubSub,
    private readonly channel: string,
    readonly instanceId: string,
    private readonly onMessage: (message: BusMessage) => void,
  ) {}

  /** True while the subscriber connection is ready and subscribed to the channel. */
  get connected(): boolean {
    return this.subscription?.connected ?? false;
  }

  /** Subscribes to the channel (in the background when the store is down). */
  async start(): Promise<void> {
    this.stopped = false;
    const subscription = await this.pubsub.subscribe(this.channel, {
      onMessage: (text) => this.receive(text),
      onResubscribed: () => this.onMessage({ kind: 'all' }),
    });
    // `stop()` ran while the subscription was opening: close it rather than leak it.
    if (this.stopped) await subscription.close();
    else this.subscription = subscription;
  }

  /** Closes the subscription and its connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.close();
  }

  /** Tells the other instances (fire-and-forget; a failure is counted by the store). */
  publish(message: BusMessage): Promise<boolean> {
    const wire: Wire = { i: this.instanceId };
    if (message.kind === 'keys') {
      wire.k = message.keys;
      if (message.asOf !== undefined) wire.w = message.asOf;
    } else if (message.kind === 'entity') {
      wire.e = message.entity;
      if (message.type !== undefined) wire.t = message.type;
    } else if (message.kind === 'pattern') wire.p = message.pattern;
    else if (message.kind === 'namespace') {
      wire.n = message.namespace;
      wire.v = message.version;
    } else wire.a = 1;
    return this.pubsub.publish(this.channel, JSON.stringify(wire));
  }

  /** Decodes a message from the channel and hands it on, unless it is malformed or our own. */
  private receive(text: string): void {
    let wire: Wire;
    try {
      wire = JSON.parse(text) as Wire;
    } catch (e) {
      this.log.warn('bus-parse', `ignored a malformed bus message: ${errorSummary(e)}`);
      return;
    }
    if (typeof wire !== 'object' || wire === null || wire.i === this.instanceId) return;
    this.received++;
    if (Array.isArray(wire.k)) this.onMessage(keysMessage(wire.k, wire.w));
    else if (typeof wire.e === 'string')
      this.onMessage({
        kind: 'entity',
        entity: wire.e,
        type: typeof wire.t === 'string' ? wire.t : undefined,
      });
    else if (typeof wire.p === 'string') this.onMessage({ kind: 'pattern', pattern: wire.p });
    else if (typeof wire.n === 'string' && typeof wire.v === 'string')
      this.onMessage({ kind: 'namespace', namespace: wire.n, version: wire.v });
    else if (wire.a === 1) this.onMessage({ kind: 'all' });
  }
}

/**
 * The `keys` message of a wire message: keys that are strings, each with its written `asOf` when
 * the sender gave a number for it (a key without one is evicted whatever its age).
 */
function keysMessage(k: unknown[], w: unknown): BusMessage {
  const written = Array.isArray(w) && w.length === k.length ? (w as unknown[]) : undefined;
  const keys: string[] = [];
  const asOf: number[] = [];
  k.forEach((key, i) => {
    if (typeof key !== 'string') return;
    keys.push(key);
    const a = written?.[i];
    asOf.push(typeof a === 'number' && Number.isFinite(a) ? a : Number.NEGATIVE_INFINITY);
  });
  return written ? { kind: 'keys', keys, asOf } : { kind: 'keys', keys };
}
