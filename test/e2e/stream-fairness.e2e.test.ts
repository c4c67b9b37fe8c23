/**
 * Issue 12, fairness: warm trades streams (served from the cache, never waiting on I/O) share the
 * event loop with other requests, and at most MAX_CONCURRENT_STREAMS run per instance.
 *
 * The fairness run is the issue's: 5 concurrent warm streams of 51 MB each (30 tickers × one
 * year) on the app as a real process on Redis, while `/health/live` and a cached price are asked
 * again and again. The streams are read by one client process and the probes sent by another, so
 * that neither the server's event loop nor the busy reader delays a probe's timing (and the
 * server runs as in production, not inside this test process). Everything is on loopback and
 * bounded. The other tests use the app inside this process.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as http_ from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { StreamGate } from '../../src/market/ndjson-writer.js';
import { DEFAULT_TICKERS } from '../../src/market/providers/synthetic/ticker-profiles.js';
import { testRedis } from '../harness/test-env.js';
import { uniquePrefix, waitFor } from '../support/cache-context.js';
import { startAppProcess, statusOf, type AppProcess } from '../fleet/support/app-process.js';
import { postTrades, startMarketApp, type MarketApp } from './market-e2e-support.js';

const STREAMS = 5;
/** 30 tickers × one year × 40 trades a day: about 300 000 lines, 49 MB of NDJSON per stream. */
const BODY = {
  filters: { tickers: DEFAULT_TICKERS.slice(0, 30) },
  from: '2023-01-01',
  to: '2023-12-31',
};
/**
 * A probe's answers while the streams run: p99 below this, the bound. Measured with the
 * reader at the lowest priority and a probe every 5 ms: p99 20.0–37.3 ms over six runs (25–38
 * answers per probe), the server's thread waiting for a CPU 11–19 % of the run. Writers made
 * worse for comparison stayed under it too (a 1 s loop-budget slice: 21.4 ms; no budget and no
 * backpressure: 21.8 ms; the whole body joined and sent at once: 33.6 ms): a warm stream is
 * stored fragments whose chunks each wait for the socket, so this run holds the promise, and the
 * loop budget's own behaviour is held by test/market/ndjson-writer.test.ts.
 */
const PROBE_P99_LIMIT_MS = 50;
/**
 * The p99 bound holds for a server that gets its CPU. On a shared machine other processes can keep
 * the server's thread waiting for a CPU for half the run; then a probe waits too, whatever the
 * server does. Past this share of the run spent waiting (from /proc/<pid>/schedstat), the probes
 * are held to STARVED_P99_LIMIT_MS instead: still far below what an unfair writer costs (the
 * issue: /health/live timing out at 2 s for 3.5 s), and the log line says which bound applied.
 */
const MAX_CPU_WAIT_SHARE = 0.25;
const STARVED_P99_LIMIT_MS = 250;
/** Pause between two answers of one probe, in ms. */
const PROBE_EVERY_MS = 5;
const CHILD = fileURLToPath(new URL('./support/stream-fairness.child.mjs', import.meta.url));

/** A stream as the reading client saw it (`endedAt`: epoch ms). */
interface StreamRead {
  status: number;
  xCache: string | null;
  bytes: number;
  sha256: string;
  endedAt: number;
}

/** One probe answer (`ms`: latency; `endedAt`: epoch ms). */
interface ProbeAnswer {
  status: number;
  xCache: string | null;
  ms: number;
  endedAt: number;
}

/** A client process (see stream-fairness.child.mjs): `started` once a reader's streams all sent bytes. */
interface ChildRun<R> {
  started: Promise<number>;
  done: Promise<R>;
  /** Asks a prober to finish (SIGTERM); it then prints its report. */
  stop(): void;
}

function startChild<R>(args: Record<string, unknown>): ChildRun<R> {
  const command = [process.execPath, CHILD, JSON.stringify(args)];
  // The reader stands for clients on other machines: on a small shared box it must not take the
  // server's CPU, so it runs at the lowest priority (the server and the prober at the normal one).
  const child = spawn(
    args.mode === 'read' ? 'nice' : command[0]!,
    args.mode === 'read' ? ['-n', '19', ...command] : command.slice(1),
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  let onStarted: (at: number) => void = () => undefined;
  const started = new Promise<number>((resolve) => (onStarted = resolve));
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    const m = /^STARTED (\S+)$/m.exec(out);
    if (m) onStarted(Number(m[1]));
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const done = new Promise<R>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      const last = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .at(-1);
      if (code === 0 && last) resolve(JSON.parse(last) as R);
      else reject(new Error(`client exited ${code}: ${err}`));
    });
  });
  return { started, done, stop: () => child.kill('SIGTERM') };
}

/** `streams` concurrent reads of BODY; with `probes`, a prober asks them meanwhile and only answers that began after every stream started and ended before the first stream ended are kept. */
async function readWhileProbing(
  port: number,
  streams: number,
  probes: string[] = [],
): Promise<{ streams: StreamRead[]; probes: Record<string, ProbeAnswer[]>; ms: number }> {
  const prober =
    probes.length > 0
      ? startChild<Record<string, ProbeAnswer[]>>({
          mode: 'probe',
          port,
          probes,
          probeEveryMs: PROBE_EVERY_MS,
        })
      : undefined;
  const t0 = performance.now();
  const reader = startChild<{ streams: StreamRead[] }>({
    mode: 'read',
    port,
    path: '/api/trades/query',
    body: BODY,
    streams,
  });
  const [startedAt, read] = await Promise.all([reader.started, reader.done]);
  const ms = performance.now() - t0;
  prober?.stop();
  const all = (await prober?.done) ?? {};
  const firstEnd = Math.min(...read.streams.map((s) => s.endedAt));
  const meanwhile = Object.fromEntries(
    Object.entries(all).map(([path, answers]) => [
      path,
      answers.filter((a) => a.endedAt - a.ms >= startedAt && a.endedAt <= firstEnd),
    ]),
  );
  return { streams: read.streams, probes: meanwhile, ms };
}

/** Time the main thread of process `pid` has run on a CPU, and waited for one while runnable, in ms. */
function schedstatOf(pid: number): { cpuMs: number; waitMs: number } {
  const [cpuNs, waitNs] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8')
    .split(' ')
    .map(Number);
  return { cpuMs: cpuNs! / 1e6, waitMs: waitNs! / 1e6 };
}

/** The `q` quantile (0..1) of `values`, nearest rank. */
function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

let m: MarketApp;
let port: number;

beforeAll(async () => {
  m = await startMarketApp({ MAX_CONCURRENT_STREAMS: String(STREAMS) });
  const server = m.app.getHttpServer() as http_.Server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await m?.close();
});

describe('warm trades streams share the event loop', () => {
  let app: AppProcess | undefined;
  afterAll(async () => {
    await app?.stop();
  });

  it(`answers /health/live and a cached price with p99 < ${PROBE_P99_LIMIT_MS} ms (given a CPU) while ${STREAMS} warm streams of about 51 MB run; each stream has the bytes of a single one`, async () => {
    app = await startAppProcess({
      CACHE_DRIVER: 'redis',
      REDIS_URL: testRedis().url,
      CACHE_KEY_PREFIX: uniquePrefix('sf'),
      MAX_CONCURRENT_STREAMS: String(STREAMS),
      // The prober asks every 5 ms from one address, for as long as the streams run (20 s and more
      // on a busy machine): the anonymous throttle would answer it 429.
      HTTP_THROTTLE_LIMIT: '0',
    });
    const cold = await readWhileProbing(app.port, 1);
    expect(cold.streams[0]).toMatchObject({ status: 200, xCache: 'MISS' });
    const single = (await readWhileProbing(app.port, 1)).streams[0]!;
    expect(single).toMatchObject({ status: 200, xCache: 'HIT' });
    expect(single.bytes).toBeGreaterThan(50_000_000);
    expect(await statusOf(app.port, '/api/stocks/AAPL/price')).toBe(200);

    const before = schedstatOf(app.pid);
    const warm = await readWhileProbing(app.port, STREAMS, [
      '/health/live',
      '/api/stocks/AAPL/price',
    ]);
    const after = schedstatOf(app.pid);

    expect(warm.streams).toHaveLength(STREAMS);
    for (const s of warm.streams) {
      expect(s).toMatchObject({ status: 200, xCache: 'HIT', bytes: single.bytes });
      expect(s.sha256).toBe(single.sha256);
    }
    const live = warm.probes['/health/live']!.map((a) => a.ms);
    const price = warm.probes['/api/stocks/AAPL/price']!;
    // Both probes were answered again and again while every stream was in flight.
    for (const answers of Object.values(warm.probes)) {
      expect(answers.length).toBeGreaterThanOrEqual(10);
      expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    }
    expect(price.filter((a) => a.xCache !== 'HIT')).toEqual([]);

    // How long the server's event-loop thread was ready to run but had no CPU (other processes).
    const cpuWaitShare = (after.waitMs - before.waitMs) / warm.ms;
    const starved = cpuWaitShare > MAX_CPU_WAIT_SHARE;
    const limit = starved ? STARVED_P99_LIMIT_MS : PROBE_P99_LIMIT_MS;
    const p99 = {
      live: quantile(live, 0.99),
      price: quantile(
        price.map((a) => a.ms),
        0.99,
      ),
    };
    const summary = (ms: number[]) =>
      `n ${ms.length}, p50 ${quantile(ms, 0.5).toFixed(1)} ms, p99 ${quantile(ms, 0.99).toFixed(1)} ms`;
    console.log(
      `stream fairness: 1 cold stream ${(cold.ms / 1000).toFixed(1)} s; ${STREAMS} warm streams of ${(single.bytes / 1e6).toFixed(1)} MB in ${(warm.ms / 1000).toFixed(1)} s; ` +
        `/health/live ${summary(live)}; price ${summary(price.map((a) => a.ms))}; ` +
        `server thread ${(after.cpuMs - before.cpuMs).toFixed(0)} ms on CPU, waited for a CPU ${(cpuWaitShare * 100).toFixed(0)} % of the run` +
        (starved
          ? ` (machine busy: p99 checked against ${STARVED_P99_LIMIT_MS} ms, not ${PROBE_P99_LIMIT_MS})`
          : ''),
    );
    expect(p99.live).toBeLessThan(limit);
    expect(p99.price).toBeLessThan(limit);
  }, 120_000);

  it('reports the event-loop delay on /health/live as mean, p50, p99 and max, net of the sampling interval', async () => {
    await request(m.app.getHttpServer()).get('/health/live').expect(200);
    const res = await request(m.app.getHttpServer()).get('/health/live').expect(200);
    const loop = (res.body as { details: { event_loop: Record<string, unknown> } }).details
      .event_loop;
    expect(loop).toMatchObject({
      status: 'up',
      delayMs: {
        mean: expect.any(Number),
        p50: expect.any(Number),
        p99: expect.any(Number),
        max: expect.any(Number),
      },
      delayWindowMs: expect.any(Number),
    });
  });
});

describe('MAX_CONCURRENT_STREAMS', () => {
  /** Opens a trades stream and stops reading it once its headers arrived: it stays in flight (backpressure). */
  async function openPaused(): Promise<{ req: http_.ClientRequest; res: http_.IncomingMessage }> {
    return new Promise((resolve, reject) => {
      const req = http_.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/api/trades/query',
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.pause();
          resolve({ req, res });
        },
      );
      req.on('error', () => undefined); // destroyed on purpose below
      req.on('error', reject);
      req.end(JSON.stringify(BODY));
    });
  }

  it('answers 503 with Retry-After past the limit, and frees the slot when a stream’s client leaves', async () => {
    const gate = m.app.get(StreamGate);
    const paused: Array<{ req: http_.ClientRequest; res: http_.IncomingMessage }> = [];
    try {
      for (let i = 0; i < STREAMS; i++) paused.push(await openPaused());
      expect(paused.map((p) => p.res.statusCode)).toEqual(Array(STREAMS).fill(200));
      expect(gate.active).toBe(STREAMS);

      const refused = await request(m.app.getHttpServer()).post('/api/trades/query').send(BODY);
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.body).toMatchObject({
        statusCode: 503,
        message: expect.stringContaining('MAX_CONCURRENT_STREAMS'),
      });
      // Bad input is still a 400 naming the field, not a 503.
      const bad = await request(m.app.getHttpServer())
        .post('/api/trades/query')
        .send({ ...BODY, from: '2024-01-02', to: '2024-01-01' });
      expect(bad.status).toBe(400);

      paused[0].req.destroy();
      await waitFor(() => gate.active === STREAMS - 1, 5000);
      const small = await postTrades(m.app, { ...BODY, from: '2023-03-01', to: '2023-03-03' });
      expect(small.status).toBe(200);
      expect(small.lines.length).toBeGreaterThan(1);
    } finally {
      // Paused clients would keep the server (and app.close) open.
      for (const p of paused) p.req.destroy();
    }
    await waitFor(() => gate.active === 0, 5000);
  }, 60_000);
});
