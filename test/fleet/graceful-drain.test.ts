/**
 * `GracefulDrain` in process, on a real `node:http` server, by event ordering: readiness first,
 * `Connection: close` during the window, no new connection after it, in-flight requests
 * finished (or cut at the bound), the application closed last; and the shutdown settings.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadEdgeConfig } from '../../config/edge-config.js';
import { loadShutdownConfig, SHUTDOWN_CONFIG_DEFAULTS } from '../../config/shutdown-config.js';
import { drainOnSignals, GracefulDrain } from '../../src/health/graceful-drain.js';
import { TEST_HOST } from '../harness/redis-server.js';

interface Answer {
  status: number;
  connection?: string;
  error?: string;
}

function get(port: number, path: string, agent?: http.Agent): Promise<Answer> {
  return new Promise((done) => {
    const req = http.get({ host: TEST_HOST, port, path, agent: agent ?? false }, (res) => {
      res.resume();
      res.on('end', () =>
        done({ status: res.statusCode ?? 0, connection: res.headers.connection }),
      );
    });
    req.on('error', (e: NodeJS.ErrnoException) => done({ status: 0, error: e.code }));
  });
}

/** A server whose `/slow` requests wait until released; every other path answers at once. */
async function startServer(): Promise<{
  server: http.Server;
  port: number;
  release(): void;
  slowArrived: Promise<void>;
}> {
  let release = () => {};
  let arrived = () => {};
  const slowArrived = new Promise<void>((r) => (arrived = r));
  const server = http.createServer((req, res) => {
    if (req.url === '/slow') {
      arrived();
      release = () => res.end('slow');
    } else res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, TEST_HOST, r));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    release: () => release(),
    slowArrived,
  };
}

describe('GracefulDrain (in process, real server)', () => {
  it('turns readiness at once, closes connections after each answer during the window, then refuses, waits for in-flight and closes the app last', async () => {
    const { server, port, release, slowArrived } = await startServer();
    const events: string[] = [];
    let closeApp: () => void = () => {};
    const appClosed = new Promise<void>((r) => (closeApp = r));
    const drain = new GracefulDrain(
      server,
      { drainMs: 300, timeoutMs: 30_000 },
      {
        beginShutdown: () => events.push('ready-503'),
        closeApp: async () => {
          events.push('app-closed');
          closeApp();
        },
        log: (m) => events.push(m.split(':')[0]!),
      },
    );
    const agent = new http.Agent({ keepAlive: true });
    expect(await get(port, '/a', agent)).toMatchObject({ status: 200, connection: 'keep-alive' });
    const slow = get(port, '/slow');
    await slowArrived;

    const outcome = drain.begin();
    expect(drain.isDraining).toBe(true);
    expect(events[0]).toBe('ready-503');
    expect(drain.begin()).toBe(outcome);
    // During the window: served, each answer closing its connection (kept-alive one included).
    expect(await get(port, '/b', agent)).toEqual({ status: 200, connection: 'close' });
    expect(await get(port, '/c')).toEqual({ status: 200, connection: 'close' });

    // After the window: refused, while the in-flight request still holds the server open.
    let refused: Answer = { status: -1 };
    while (refused.error !== 'ECONNREFUSED') refused = await get(port, '/d');
    expect(events).not.toContain('app-closed');
    release();
    expect(await slow).toMatchObject({ status: 200, connection: 'close' });
    await appClosed;
    expect(await outcome).toEqual({ inFlightFinished: true });
    expect(events.filter((e) => e !== 'draining' && e !== 'drain window over')).toEqual([
      'ready-503',
      'app-closed',
    ]);
    agent.destroy();
  });

  it('cuts a request that outlasts the bound, then closes the app', async () => {
    const { server, port, slowArrived } = await startServer();
    const events: string[] = [];
    const drain = new GracefulDrain(
      server,
      { drainMs: 0, timeoutMs: 400 },
      {
        beginShutdown: () => events.push('ready-503'),
        closeApp: async () => void events.push('app-closed'),
      },
    );
    const slow = get(port, '/slow');
    await slowArrived;
    const outcome = await drain.begin();
    expect(outcome).toEqual({ inFlightFinished: false });
    expect(events).toEqual(['ready-503', 'app-closed']);
    expect((await slow).status).toBe(0);
  });
});

describe('drainOnSignals', () => {
  // A signal no harness listens to, emitted in process (no real signal is sent).
  const SIGNAL = 'SIGUSR2';

  it('drains on the first signal only, then exits 0', async () => {
    const { server } = await startServer();
    let closes = 0;
    const drain = new GracefulDrain(
      server,
      { drainMs: 0, timeoutMs: 5000 },
      { beginShutdown: () => {}, closeApp: async () => void closes++ },
    );
    const codes: number[] = [];
    let exited: () => void = () => {};
    const exitedOnce = new Promise<void>((r) => (exited = r));
    const logs: string[] = [];
    const remove = drainOnSignals(drain, {
      signals: [SIGNAL],
      exit: (code) => {
        codes.push(code);
        exited();
      },
      log: (m) => logs.push(m),
    });
    try {
      process.emit(SIGNAL, SIGNAL);
      process.emit(SIGNAL, SIGNAL);
      await exitedOnce;
      expect(codes).toEqual([0]);
      expect(closes).toBe(1);
      expect(logs).toEqual([`${SIGNAL} received`]);
    } finally {
      remove();
    }
    expect(process.listenerCount(SIGNAL)).toBe(0);
  });

  it('exits 1 when closing outlasts drain + timeout, or when it fails', async () => {
    for (const closeApp of [
      () => new Promise<void>(() => {}),
      () => Promise.reject(new Error('x')),
    ]) {
      const { server } = await startServer();
      const drain = new GracefulDrain(
        server,
        { drainMs: 0, timeoutMs: 200 },
        { beginShutdown: () => {}, closeApp },
      );
      const errors: string[] = [];
      const code = await new Promise<number>((resolve) => {
        const remove = drainOnSignals(drain, {
          signals: [SIGNAL],
          exit: (c) => {
            remove();
            resolve(c);
          },
          error: (m) => errors.push(m),
        });
        process.emit(SIGNAL, SIGNAL);
      });
      expect(code).toBe(1);
      expect(errors).toHaveLength(1);
      server.closeAllConnections();
    }
  });
});

describe('shutdown and keep-alive settings', () => {
  it('default to a 5 s drain, a 10 s timeout and a 65 s keep-alive, and read the environment', () => {
    expect(loadShutdownConfig({})).toEqual(SHUTDOWN_CONFIG_DEFAULTS);
    expect(SHUTDOWN_CONFIG_DEFAULTS).toEqual({ drainMs: 5000, timeoutMs: 10_000 });
    expect(loadShutdownConfig({ SHUTDOWN_DRAIN_MS: '0', SHUTDOWN_TIMEOUT_MS: '2500' })).toEqual({
      drainMs: 0,
      timeoutMs: 2500,
    });
    expect(loadEdgeConfig({}).keepAliveTimeoutMs).toBe(65_000);
    expect(loadEdgeConfig({ HTTP_KEEP_ALIVE_TIMEOUT_MS: '75000' }).keepAliveTimeoutMs).toBe(75_000);
  });

  it('refuse bad values, naming the variable', () => {
    expect(() => loadShutdownConfig({ SHUTDOWN_DRAIN_MS: '-1' })).toThrow(/SHUTDOWN_DRAIN_MS/);
    expect(() => loadShutdownConfig({ SHUTDOWN_TIMEOUT_MS: 'soon' })).toThrow(
      /SHUTDOWN_TIMEOUT_MS/,
    );
    expect(() => loadEdgeConfig({ HTTP_KEEP_ALIVE_TIMEOUT_MS: '0' })).toThrow(
      /HTTP_KEEP_ALIVE_TIMEOUT_MS/,
    );
  });
});
