import { Logger } from '@nestjs/common';
import type { RedisClient } from '../stores/redis/redis-connection.js';
import type { RedisCache } from '../stores/redis/redis-cache.js';
import { withTimeout } from '../util/with-timeout.js';
import { RateLimitedLogger, errorSummary } from '../util/rate-limited-logger.js';

/** What one instance tells the others. Keys only, never values. */
export type BusMessage =
  | { kind: 'keys'; keys: string[] }
  | { kind: 'namespace'; namespace: string; version: string }
  | { kind: 'all' };

interface Wire {
  i: string;
  k?: string[];
  n?: string;
  v?: string;
  a?: 1;
}

/**
 * Cross-instance L1 invalidation over Redis pub/sub. Publishes on the shared connection and
 * listens on a subscriber connection of its own (works on a cluster: PUBLISH reaches every
 * node). Messages carry the sender's instance id, so an instance ignores its own. When the
 * subscriber reconnects after a drop, `onMessage({ kind: 'all' })` is called: messages may have
 * been missed, so the L1 must be cleared.
 */
export class InvalidationBus {
  private subscriber: RedisClient | undefined;
  private everReady = false;
  private lostSinceReady = false;
  private subscribed = false;
  private readonly log = new RateLimitedLogger(new Logger(InvalidationBus.name));
  /** Messages received from other instances. */
  received = 0;

  constructor(
    private readonly redis: RedisCache,
    private readonly channel: string,
    readonly instanceId: string,
    private readonly onMessage: (message: BusMessage) => void,
  ) {}

  /** True while the subscriber connection is ready and subscribed to the channel. */
  get connected(): boolean {
    return this.subscribed && this.subscriber?.status === 'ready';
  }

  /** Opens the subscriber connection (in the background when Redis is down). */
  async start(): Promise<void> {
    const sub = this.redis.duplicate();
    this.subscriber = sub;
    sub.on('error', (e: unknown) =>
      this.log.warn('bus', `invalidation bus connection: ${errorSummary(e)}`),
    );
    sub.on('message', (_channel: string, text: string) => this.receive(text));
    sub.on('close', () => {
      this.subscribed = false;
      if (this.everReady) this.lostSinceReady = true;
    });
    sub.on('ready', () => {
      if (this.lostSinceReady) {
        this.lostSinceReady = false;
        this.onMessage({ kind: 'all' });
      }
      this.everReady = true;
      this.subscribe(sub);
    });
    try {
      await withTimeout(sub.connect(), 2000, 'bus connect timed out');
    } catch (e) {
      this.log.warn(
        'bus-connect',
        `invalidation bus not connected at start-up; retrying: ${errorSummary(e)}`,
      );
    }
  }

  /** Subscribes to the channel, retrying every 200 ms while the connection is up (a SUBSCRIBE can time out under load). */
  private subscribe(sub: RedisClient): void {
    sub.subscribe(this.channel).then(
      () => {
        if (this.subscriber === sub) this.subscribed = true;
      },
      (e: unknown) => {
        this.log.warn('bus-subscribe', `bus subscribe failed, retrying: ${errorSummary(e)}`);
        if (this.subscriber === sub && sub.status === 'ready')
          setTimeout(() => this.subscriber === sub && this.subscribe(sub), 200).unref();
      },
    );
  }

  /** Closes the subscriber connection. */
  async stop(): Promise<void> {
    const sub = this.subscriber;
    this.subscriber = undefined;
    if (!sub) return;
    sub.removeAllListeners('ready');
    sub.removeAllListeners('close');
    sub.disconnect();
  }

  /** Tells the other instances (fire-and-forget; a failure is counted by the store). */
  publish(message: BusMessage): Promise<boolean> {
    const wire: Wire = { i: this.instanceId };
    if (message.kind === 'keys') wire.k = message.keys;
    else if (message.kind === 'namespace') {
      wire.n = message.namespace;
      wire.v = message.version;
    } else wire.a = 1;
    return this.redis.publish(this.channel, JSON.stringify(wire));
  }

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
    if (Array.isArray(wire.k))
      this.onMessage({ kind: 'keys', keys: wire.k.filter((k) => typeof k === 'string') });
    else if (typeof wire.n === 'string' && typeof wire.v === 'string')
      this.onMessage({ kind: 'namespace', namespace: wire.n, version: wire.v });
    else if (wire.a === 1) this.onMessage({ kind: 'all' });
  }
}
