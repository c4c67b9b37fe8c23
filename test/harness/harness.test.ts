/** Self-test of the Redis test harness (global setup, server processes, cluster, TCP proxy). */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { Redis } from 'ioredis';
import { clusterNodes, freePort, redisCommand, RedisServerProcess } from './redis-server.js';
import { TcpProxy } from './tcp-proxy.js';
import { testCluster, testRedis } from './test-env.js';

/** Sends inline PING over an open raw socket and resolves with the elapsed ms once +PONG arrives. */
function timedPing(socket: net.Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let reply = '';
    const onData = (chunk: Buffer): void => {
      reply += chunk.toString();
      if (!reply.includes('\r\n')) return;
      socket.off('data', onData);
      if (reply.startsWith('+PONG')) resolve(Number(process.hrtime.bigint() - started) / 1e6);
      else reject(new Error(`unexpected reply ${JSON.stringify(reply)}`));
    };
    socket.on('data', onData);
    socket.write('PING\r\n');
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

describe('global setup', () => {
  it('exposes a standalone Redis that answers PING and is not 6379', async () => {
    const redis = testRedis();
    expect(redis.host).toBe('127.0.0.1');
    expect(redis.port).not.toBe(6379);
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await redisCommand(redis.port, 'PING')).toBe('PONG');

    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await client.connect();
      await client.set('harness:key', 'v');
      expect(await client.get('harness:key')).toBe('v');
      await client.del('harness:key');
    } finally {
      client.disconnect();
    }
  });

  it('exposes a healthy 3-master / 3-replica cluster', async () => {
    const cluster = testCluster();
    expect(cluster.nodes).toHaveLength(6);
    expect(cluster.nodeList).toBe(cluster.nodes.map((n) => `${n.host}:${n.port}`).join(','));
    for (const node of cluster.nodes) {
      expect(node.port).not.toBe(6379);
      expect(await redisCommand(node.port, 'CLUSTER', 'INFO')).toContain('cluster_state:ok');
    }
    const nodes = await clusterNodes(cluster.nodes[0].port);
    const masters = nodes.filter((n) => n.flags.includes('master'));
    expect(masters).toHaveLength(3);
    expect(nodes.filter((n) => n.flags.includes('slave'))).toHaveLength(3);
    const slots = masters.flatMap((m) => m.slots).reduce((sum, [a, b]) => sum + (b - a + 1), 0);
    expect(slots).toBe(16384);
  });
});

describe('RedisServerProcess', () => {
  let server: RedisServerProcess | undefined;

  afterAll(async () => {
    await server?.stop();
  });

  it('kill() + restart() keeps the same port and answers PING again', async () => {
    server = await RedisServerProcess.start({ args: ['--maxmemory', '10mb'] });
    const { port } = server;
    expect(port).not.toBe(6379);
    expect(server.isRunning).toBe(true);
    expect(await redisCommand(port, 'PING')).toBe('PONG');
    expect(await redisCommand(port, 'CONFIG', 'GET', 'maxmemory')).toBe(
      `maxmemory\n${10 * 1024 * 1024}`,
    );

    await server.kill();
    expect(server.isRunning).toBe(false);
    await expect(redisCommand(port, 'PING')).rejects.toThrow();

    await server.restart();
    expect(server.isRunning).toBe(true);
    expect(server.port).toBe(port);
    expect(await redisCommand(port, 'PING')).toBe('PONG');
    // Same extra args after the restart.
    expect(await redisCommand(port, 'CONFIG', 'GET', 'maxmemory')).toBe(
      `maxmemory\n${10 * 1024 * 1024}`,
    );

    const dir = server.tempDir;
    expect(dir && fs.existsSync(dir)).toBeTruthy();
    await server.stop();
    expect(server.isRunning).toBe(false);
    expect(dir && fs.existsSync(dir)).toBeFalsy();
    server = undefined;
  });

  it('pause() freezes the server and resume() continues it', async () => {
    server = await RedisServerProcess.start();
    server.pause();
    const reply = redisCommand(server.port, 'PING');
    let settled = false;
    void reply.then(
      () => (settled = true),
      () => (settled = true),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false);
    server.resume();
    expect(await reply).toBe('PONG');
    await server.stop();
    server = undefined;
  });

  it('freePort() never hands out 6379 or the same port twice', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    expect(new Set(ports).size).toBe(ports.length);
    expect(ports).not.toContain(6379);
  });

  it('redisCommand() rejects on an error reply', async () => {
    await expect(redisCommand(testRedis().port, 'NO_SUCH_COMMAND')).rejects.toThrow(
      /unknown command/i,
    );
  });
});

describe('TcpProxy', () => {
  let proxy: TcpProxy;
  const sockets: net.Socket[] = [];

  beforeEach(async () => {
    proxy = await TcpProxy.start(testRedis().port);
  });

  afterEach(async () => {
    sockets.splice(0).forEach((s) => s.destroy());
    await proxy.close();
  });

  it('forwards PING', async () => {
    const socket = await connect(proxy.port);
    sockets.push(socket);
    await timedPing(socket);

    const client = new Redis(proxy.port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
    });
    try {
      await client.connect();
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
    }
  });

  it('setLatency(100) adds measurable latency', async () => {
    const socket = await connect(proxy.port);
    sockets.push(socket);
    const baseline = await timedPing(socket);
    proxy.setLatency(100);
    const delayed = await timedPing(socket);
    expect(delayed).toBeGreaterThanOrEqual(90);
    expect(delayed).toBeGreaterThan(baseline);
    proxy.setLatency(0);
    expect(await timedPing(socket)).toBeLessThan(delayed);
  });

  it('resetAll() closes client sockets', async () => {
    const socket = await connect(proxy.port);
    sockets.push(socket);
    await timedPing(socket);
    expect(proxy.connections).toBe(1);
    const errors: string[] = [];
    socket.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    proxy.resetAll();
    await closed;
    expect(errors).toContain('ECONNRESET');
    expect(proxy.connections).toBe(0);
    // New connections still work after a reset.
    const again = await connect(proxy.port);
    sockets.push(again);
    await timedPing(again);
  });

  it('blackhole(true) holds connections without answering', async () => {
    proxy.blackhole(true);
    const socket = await connect(proxy.port);
    sockets.push(socket);
    const outcome = await Promise.race([
      timedPing(socket).then(() => 'answered'),
      new Promise<string>((r) => setTimeout(() => r('silent'), 300)),
    ]);
    expect(outcome).toBe('silent');
    expect(socket.destroyed).toBe(false);
    proxy.blackhole(false);
    const fresh = await connect(proxy.port);
    sockets.push(fresh);
    await timedPing(fresh);
  });
});
