import { Cluster, type Redis } from 'ioredis';
import type { StorePubSub, StoreSubscription, StoreSubscriptionHandlers } from '../cache-store.js';
import { errorSummary, type RateLimitedLogger } from '../../util/rate-limited-logger.js';
import { withTimeout } from '../../util/with-timeout.js';
import type { GuardedCall, RedisClient } from './redis-connection.js';

/** How long `subscribe` waits for the subscriber connection before going on in the background, in ms. */
const SUBSCRIBER_CONNECT_TIMEOUT_MS = 2000;
/** Pause before retrying a SUBSCRIBE that failed while the connection was up, in ms. */
const SUBSCRIBE_RETRY_MS = 200;

/**
 * The connection every PUBLISH of `client` goes through. On a cluster, one node (the master of the
 * lowest address): a keyless command otherwise goes to a random node, and messages published
 * through different nodes can overtake each other on the cluster bus, so a subscriber could see
 * one publisher's messages out of order (an eviction after the barrier that was meant to follow it).
 */
function publisherOf(client: RedisClient): RedisClient {
  if (!(client instanceof Cluster)) return client;
  let pinned: Redis | undefined;
  let pinnedName = '';
  for (const node of client.nodes('master')) {
    const name = `${node.options.host ?? ''}:${String(node.options.port ?? '').padStart(5, '0')}`;
    if (pinned === undefined || name < pinnedName) [pinned, pinnedName] = [node, name];
  }
  return pinned ?? client;
}

/**
 * Redis pub/sub behind the store's `StorePubSub` port. Publishing goes through the store's guarded
 * path on the shared connection (on a cluster through one node, `publisherOf`: PUBLISH reaches
 * every node, and one node keeps one publisher's messages in order); each subscription
 * gets a subscriber connection of its own, a duplicate of the shared client.
 */
export class RedisPubSub implements StorePubSub {
  constructor(
    private readonly client: RedisClient,
    private readonly guard: GuardedCall,
    private readonly log: RateLimitedLogger,
  ) {}

  /** Publishes `message` on `channel`; `false` when it could not be sent (counted by the store). */
  publish(channel: string, message: string): Promise<boolean> {
    return this.guard(
      'publish',
      false,
      async (c) => (await publisherOf(c).publish(channel, message)) >= 0,
    );
  }

  /** Opens a subscriber connection to `channel`; resolves once connected, or after the connect timeout while it keeps retrying. */
  async subscribe(
    channel: string,
    handlers: StoreSubscriptionHandlers,
  ): Promise<StoreSubscription> {
    const subscription = new RedisSubscription(
      this.client.duplicate(),
      channel,
      handlers,
      this.log,
    );
    await subscription.open();
    return subscription;
  }
}

/**
 * One subscriber connection. It reports `connected` only while ready and subscribed, retries a
 * failed SUBSCRIBE, and when the connection comes back after a drop it tells `onResubscribed`
 * (messages may have been missed meanwhile) before subscribing again.
 */
class RedisSubscription implements StoreSubscription {
  private connection: RedisClient | undefined;
  private everReady = false;
  private lostSinceReady = false;
  private subscribed = false;

  constructor(
    connection: RedisClient,
    private readonly channel: string,
    private readonly handlers: StoreSubscriptionHandlers,
    private readonly log: RateLimitedLogger,
  ) {
    this.connection = connection;
  }

  /** True while the connection is ready and subscribed to the channel. */
  get connected(): boolean {
    return this.subscribed && this.connection?.status === 'ready';
  }

  /** Wires the connection's events and connects (in the background when Redis is down). */
  async open(): Promise<void> {
    const sub = this.connection;
    if (!sub) return;
    sub.on('error', (e: unknown) =>
      this.log.warn('bus', `invalidation bus connection: ${errorSummary(e)}`),
    );
    sub.on('message', (_channel: string, text: string) => this.handlers.onMessage(text));
    sub.on('close', () => {
      this.subscribed = false;
      if (this.everReady) this.lostSinceReady = true;
    });
    sub.on('ready', () => {
      if (this.lostSinceReady) {
        this.lostSinceReady = false;
        this.handlers.onResubscribed();
      }
      this.everReady = true;
      this.subscribe(sub);
    });
    try {
      await withTimeout(sub.connect(), SUBSCRIBER_CONNECT_TIMEOUT_MS, 'bus connect timed out');
    } catch (e) {
      this.log.warn(
        'bus-connect',
        `invalidation bus not connected at start-up; retrying: ${errorSummary(e)}`,
      );
    }
  }

  /** Subscribes to the channel, retrying while the connection is up (a SUBSCRIBE can time out under load). */
  private subscribe(sub: RedisClient): void {
    sub.subscribe(this.channel).then(
      () => {
        if (this.connection === sub) this.subscribed = true;
      },
      (e: unknown) => {
        this.log.warn('bus-subscribe', `bus subscribe failed, retrying: ${errorSummary(e)}`);
        if (this.connection === sub && sub.status === 'ready')
          setTimeout(
            () => this.connection === sub && this.subscribe(sub),
            SUBSCRIBE_RETRY_MS,
          ).unref();
      },
    );
  }

  /** Closes the subscriber connection. */
  async close(): Promise<void> {
    const sub = this.connection;
    this.connection = undefined;
    if (!sub) return;
    sub.removeAllListeners('ready');
    sub.removeAllListeners('close');
    sub.disconnect();
  }
}
