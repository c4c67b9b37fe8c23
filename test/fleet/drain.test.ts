/**
 * Drain on deploy, as a fleet: app instances as real processes, real HAProxy, real SIGTERM.
 * Promises: behind a balancer (health check `GET /health/ready` every 500 ms, fall 2, no
 * retries, no redispatch), SIGTERM of one instance mid-load costs the client nothing; the
 * instance keeps serving through the drain window and exits within drain + timeout; keep-alive
 * clients connected directly never see an accepted request reset.
 */
import { startAppProcess, type AppProcess } from './support/app-process.js';
import { startHaproxy, type Balancer } from './support/haproxy.js';
import { startLoad, type LoadSample } from './support/load.js';

const PATHS = ['AAPL', 'MSFT', 'GOOGL', 'AMZN'].map((t) => `/api/stocks/${t}/price`);

/** Balancer check interval × fall + check timeout + margin: 500 × 2 + 500 + 1000. */
const DRAIN_MS = 2500;
const TIMEOUT_MS = 5000;
/** Past this long after the signal, a response cannot be one that was in flight when it came. */
const SETTLE_MS = 250;

/** Resolves once `check()` holds, polled every 50 ms (event ordering, generous deadline). */
async function until(check: () => boolean | Promise<boolean>, withinMs = 30_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const failures = (samples: LoadSample[]) =>
  samples.filter((s) => s.error !== undefined || s.status < 200 || s.status > 299);

describe('drain on deploy behind HAProxy (real processes)', () => {
  let a: AppProcess | undefined;
  let b: AppProcess | undefined;
  let lb: Balancer | undefined;

  afterEach(async () => {
    await lb?.stop();
    await Promise.all([a?.stop(), b?.stop()]);
    lb = a = b = undefined;
  });

  it('SIGTERM of one of two instances mid-load: 0 non-2xx and 0 connection errors at the client; it exits within drain + timeout', async () => {
    const env = { SHUTDOWN_DRAIN_MS: String(DRAIN_MS), SHUTDOWN_TIMEOUT_MS: String(TIMEOUT_MS) };
    [a, b] = await Promise.all([startAppProcess(env), startAppProcess(env)]);
    lb = await startHaproxy([
      { name: 'a', port: a.port },
      { name: 'b', port: b.port },
    ]);
    const balancer = lb;
    const load = startLoad({ port: lb.port, paths: PATHS, concurrency: 4, maxRequests: 5000 });
    const servedBy = (name: string, after = 0) =>
      load.samples.filter((s) => s.server === name && s.at > after).length;
    await until(() => servedBy('a') >= 30 && servedBy('b') >= 30);

    const sentAt = a.signal('SIGTERM');
    let downAt = 0;
    const watch = (async () => {
      await until(async () => (await balancer.serverStates()).a === 'DOWN');
      downAt = performance.now();
    })();
    const exit = await a.exited;
    await watch;
    // More load on the survivor after the exit, then stop.
    const exitCount = load.samples.length;
    await until(() => load.samples.length >= exitCount + 100);
    const samples = await load.stop();

    expect(failures(samples)).toEqual([]);
    expect(samples.length).toBeGreaterThanOrEqual(300);
    // The instance kept answering through the balancer after the signal (the drain was used)…
    expect(servedBy('a', sentAt + SETTLE_MS)).toBeGreaterThan(0);
    // …the balancer took it out (readiness 503) before it stopped listening…
    expect(downAt - sentAt).toBeLessThan(DRAIN_MS);
    // …and it exited cleanly, after the drain window and within drain + timeout.
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - sentAt).toBeGreaterThanOrEqual(DRAIN_MS);
    expect(exit.at - sentAt).toBeLessThanOrEqual(DRAIN_MS + TIMEOUT_MS);
    expect(servedBy('b', exit.at)).toBeGreaterThan(0);
  }, 120_000);

  it('keep-alive clients connected directly: 0 resets on accepted connections; drain answers carry Connection: close, then connections are refused', async () => {
    const drainMs = 1500;
    a = await startAppProcess({ SHUTDOWN_DRAIN_MS: String(drainMs), SHUTDOWN_TIMEOUT_MS: '5000' });
    const load = startLoad({ port: a.port, paths: PATHS, concurrency: 6, maxRequests: 5000 });
    await until(() => load.samples.filter((s) => s.reused && s.status === 200).length >= 50);

    const sentAt = a.signal('SIGTERM');
    const exit = await a.exited;
    const exitCount = load.samples.length;
    // Clients keep trying after the exit: those attempts are refused (never accepted).
    await until(() => load.samples.length >= exitCount + 20);
    const samples = await load.stop();

    // A reset on a kept-alive connection is a reset of an accepted connection. A fresh connection
    // still in the kernel's accept queue when the listener closes is reset by the kernel: never
    // accepted by the app (like a refusal), and possible only at the listener's close.
    const resets = samples.filter((s) => s.error !== undefined && s.error !== 'ECONNREFUSED');
    const resetsOfAccepted = resets.filter((s) => s.reused);
    const queuedAtClose = resets.filter((s) => !s.reused);
    const refused = samples.filter((s) => s.error === 'ECONNREFUSED');
    const answered = samples.filter((s) => s.error === undefined);
    const duringDrain = answered.filter((s) => s.at > sentAt + SETTLE_MS);
    expect(resetsOfAccepted).toEqual([]);
    expect(queuedAtClose.filter((s) => s.at - sentAt < drainMs)).toEqual([]);
    expect(answered.filter((s) => s.status !== 200)).toEqual([]);
    // Keep-alive was in use before the signal; the drain served requests, each closing its connection.
    expect(answered.filter((s) => s.at < sentAt && s.reused).length).toBeGreaterThanOrEqual(50);
    expect(duringDrain.length).toBeGreaterThan(0);
    expect(duringDrain.filter((s) => s.connection !== 'close')).toEqual([]);
    // Refusals only once the listener stopped (after the drain window).
    expect(refused.length).toBeGreaterThan(0);
    expect(Math.min(...refused.map((s) => s.at)) - sentAt).toBeGreaterThanOrEqual(drainMs);
    expect(exit).toMatchObject({ code: 0, signal: null });
  }, 120_000);

  it('a request that outlasts the bound is cut then: the instance still exits within drain + timeout', async () => {
    const drainMs = 500;
    const timeoutMs = 2000;
    a = await startAppProcess({
      SHUTDOWN_DRAIN_MS: String(drainMs),
      SHUTDOWN_TIMEOUT_MS: String(timeoutMs),
      // Every vendor call takes a minute: a cold price request stays in flight.
      SYNTHETIC_LATENCY_MS: '60000',
    });
    const load = startLoad({ port: a.port, paths: PATHS.slice(0, 1), concurrency: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect(load.samples).toEqual([]);

    const sentAt = a.signal('SIGTERM');
    const exit = await a.exited;
    const samples = await load.stop();

    // Cut at the in-flight bound, then closed normally (exit 0, not the last-resort exit 1).
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - sentAt).toBeLessThanOrEqual(drainMs + timeoutMs);
    expect(exit.at - sentAt).toBeGreaterThanOrEqual(drainMs);
    expect(samples[0]).toMatchObject({ status: 0 });
  }, 120_000);
});
