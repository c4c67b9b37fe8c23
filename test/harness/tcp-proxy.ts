/**
 * Fault-injecting TCP proxy (node:net) placed between a client and a Redis on 127.0.0.1:
 * adds latency, black-holes traffic (half-open connections) or resets every connection.
 */
import * as net from 'node:net';

const HOST = '127.0.0.1';

interface Connection {
  client: net.Socket;
  upstream: net.Socket | undefined;
  /** Once black-holed, a connection silently drops all data for the rest of its life. */
  holed: boolean;
  toUpstream: DelayedPipe | undefined;
  toClient: DelayedPipe | undefined;
}

/** One direction of a proxied connection: forwards chunks in order, each delayed by the current latency. */
class DelayedPipe {
  private readonly queue: Array<{ due: number; chunk: Buffer }> = [];
  private timer: NodeJS.Timeout | undefined;
  private lastDue = 0;
  private endPending = false;

  constructor(
    private readonly src: net.Socket,
    private readonly dst: net.Socket,
    private readonly latency: () => number,
    private readonly isHoled: () => boolean,
  ) {}

  push(chunk: Buffer): void {
    if (this.isHoled()) return;
    const latency = this.latency();
    if (latency <= 0 && this.queue.length === 0) {
      this.write(chunk);
      return;
    }
    const due = Math.max(Date.now() + latency, this.lastDue);
    this.lastDue = due;
    this.queue.push({ due, chunk });
    this.schedule();
  }

  /** Half-close the destination once every queued chunk has been delivered. */
  end(): void {
    if (this.queue.length === 0) this.endNow();
    else this.endPending = true;
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    const wait = Math.max(0, this.queue[0].due - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, wait);
  }

  private flush(): void {
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0].due <= now) {
      const { chunk } = this.queue.shift()!;
      if (!this.isHoled()) this.write(chunk);
    }
    if (this.queue.length > 0) this.schedule();
    else if (this.endPending) this.endNow();
  }

  private write(chunk: Buffer): void {
    if (this.dst.destroyed || this.dst.writableEnded) return;
    if (!this.dst.write(chunk)) {
      this.src.pause();
      this.dst.once('drain', () => this.src.resume());
    }
  }

  private endNow(): void {
    this.endPending = false;
    if (!this.isHoled() && !this.dst.destroyed && !this.dst.writableEnded) this.dst.end();
  }
}

function reset(socket: net.Socket | undefined): void {
  if (!socket || socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/**
 * TCP proxy listening on a free 127.0.0.1 port and forwarding to `127.0.0.1:targetPort`.
 * Point a client at {@link TcpProxy.port} instead of the Redis port to inject network faults.
 */
export class TcpProxy {
  /** Always `127.0.0.1`. */
  readonly host = HOST;
  private latencyMs = 0;
  private blackholed = false;
  private readonly conns = new Set<Connection>();

  private constructor(
    private readonly server: net.Server,
    /** Port the proxy listens on. */
    readonly port: number,
    /** Port of the proxied target on 127.0.0.1. */
    readonly targetPort: number,
  ) {
    server.on('connection', (client) => this.onConnection(client));
  }

  /** Starts a proxy on a free 127.0.0.1 port in front of `127.0.0.1:targetPort`. */
  static async start(targetPort: number): Promise<TcpProxy> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false });
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: 0, host: HOST }, () => {
        server.off('error', reject);
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : 0);
      });
    });
    return new TcpProxy(server, port, targetPort);
  }

  /** `redis://127.0.0.1:PORT` pointing at the proxy. */
  get url(): string {
    return `redis://${HOST}:${this.port}`;
  }

  /** Number of currently open client connections. */
  get connections(): number {
    return this.conns.size;
  }

  /** Delays every chunk by `ms` in each direction (a round trip costs ~2×ms). 0 disables. */
  setLatency(ms: number): void {
    this.latencyMs = Math.max(0, ms);
  }

  /**
   * `true`: every current connection and every new one silently drops all data in both
   * directions while staying open (half-open, like a network partition); new connections are
   * accepted but never connected upstream. `false`: new connections work normally again —
   * connections black-holed earlier stay dead (their byte streams are corrupted) until the
   * client closes them or {@link resetAll} is called.
   */
  blackhole(on: boolean): void {
    this.blackholed = on;
    if (on) for (const conn of this.conns) conn.holed = true;
  }

  /** Destroys every current connection (client and upstream side) with a TCP RST. */
  resetAll(): void {
    for (const conn of [...this.conns]) this.destroyConnection(conn, true);
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    for (const conn of [...this.conns]) this.destroyConnection(conn, false);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(client: net.Socket): void {
    const conn: Connection = {
      client,
      upstream: undefined,
      holed: this.blackholed,
      toUpstream: undefined,
      toClient: undefined,
    };
    this.conns.add(conn);
    client.setNoDelay(true);
    client.on('error', () => reset(conn.upstream));
    client.on('close', () => this.destroyConnection(conn, false));

    if (conn.holed) {
      // Accept and hold: read and discard everything, never answer.
      client.on('data', () => undefined);
      return;
    }

    const upstream = net.connect({ port: this.targetPort, host: HOST, allowHalfOpen: true });
    upstream.setNoDelay(true);
    conn.upstream = upstream;
    const latency = (): number => this.latencyMs;
    const holed = (): boolean => conn.holed;
    conn.toUpstream = new DelayedPipe(client, upstream, latency, holed);
    conn.toClient = new DelayedPipe(upstream, client, latency, holed);

    client.on('data', (chunk: Buffer) => conn.toUpstream?.push(chunk));
    client.on('end', () => conn.toUpstream?.end());
    upstream.on('data', (chunk: Buffer) => conn.toClient?.push(chunk));
    upstream.on('end', () => conn.toClient?.end());
    upstream.on('error', () => {
      // Target down / reset: propagate as a reset unless this connection is black-holed.
      if (!conn.holed) this.destroyConnection(conn, true);
    });
    upstream.on('close', () => {
      if (!conn.holed && client.writableEnded && !client.destroyed) client.destroySoon();
    });
  }

  private destroyConnection(conn: Connection, withReset: boolean): void {
    if (!this.conns.delete(conn)) {
      conn.upstream?.destroy();
      return;
    }
    conn.toUpstream?.dispose();
    conn.toClient?.dispose();
    if (withReset) {
      reset(conn.client);
      reset(conn.upstream);
    } else {
      conn.client.destroy();
      conn.upstream?.destroy();
    }
  }
}
