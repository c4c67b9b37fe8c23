/**
 * Deploy benchmark (issue 11): two app processes behind HAProxy (Debian's package; health check
 * `GET /health/ready` every 500 ms, fall 2, no retries, no redispatch) under a bounded
 * keep-alive load; each "deploy" sends SIGTERM to one instance, waits for its exit, starts a
 * replacement on the same port and waits until HAProxy has it UP again. Reports the client
 * errors (non-2xx and connection errors) per deploy. A script, not a test.
 * Run alone: `npx tsx bench/deploy.bench.ts` (`APP_ROOT=<checkout>` runs another checkout's
 * app, e.g. the commit before the drain, for a before/after figure; `DEPLOYS` default 4).
 */
import { startAppProcess, type AppProcess } from '../test/fleet/support/app-process.js';
import { startHaproxy } from '../test/fleet/support/haproxy.js';
import { startLoad, type LoadSample } from '../test/fleet/support/load.js';
import { isEntryPoint } from '../src/market/providers/entry-point.js';
import type { BenchRow } from './lib.js';

const SECTION = 'deploy';
const PATHS = ['AAPL', 'MSFT', 'GOOGL', 'AMZN', 'NVDA', 'META'].map(
  (t) => `/api/stocks/${t}/price`,
);

/** The drain window used: 500 ms × fall 2 + 500 ms check timeout + 1 s margin. */
const DRAIN_MS = 2500;

async function until(check: () => boolean | Promise<boolean>, withinMs = 60_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const failed = (s: LoadSample) => s.error !== undefined || s.status < 200 || s.status > 299;

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! : 0;
}

/** Runs `deploys` rolling deploys (SIGTERM, exit, replacement UP) under load; one row for the run. */
export async function runDeployBench(
  deploys = Number(process.env.DEPLOYS ?? 4),
): Promise<BenchRow[]> {
  const env = {
    SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
    SHUTDOWN_TIMEOUT_MS: '10000',
    // The load comes from one address through the balancer: the anonymous throttle would answer
    // most of it 429, which is not what a deploy costs.
    HTTP_THROTTLE_LIMIT: '0',
  };
  const apps: AppProcess[] = await Promise.all([startAppProcess(env), startAppProcess(env)]);
  const names = ['a', 'b'];
  const lb = await startHaproxy(apps.map((app, i) => ({ name: names[i]!, port: app.port })));
  const load = startLoad({ port: lb.port, paths: PATHS, concurrency: 8, maxRequests: 200_000 });
  const perDeploy: number[] = [];
  const exitMs: number[] = [];
  const start = performance.now();
  try {
    await until(() => load.samples.length >= 200);
    for (let d = 0; d < deploys; d++) {
      const i = d % apps.length;
      const before = load.samples.filter(failed).length;
      const sentAt = apps[i]!.signal('SIGTERM');
      exitMs.push((await apps[i]!.exited).at - sentAt);
      apps[i] = await startAppProcess({ ...env, PORT: String(apps[i]!.port) });
      await until(async () => (await lb.serverStates())[names[i]!] === 'UP');
      const settled = load.samples.length;
      await until(() => load.samples.length >= settled + 200);
      perDeploy.push(load.samples.filter(failed).length - before);
    }
  } finally {
    await load.stop();
    await lb.stop();
    await Promise.all(apps.map((app) => app.stop()));
  }
  const seconds = (performance.now() - start) / 1000;
  const samples = load.samples;
  const latencies = samples.map((s) => s.latencyMs).sort((x, y) => x - y);
  const errors = samples.filter(failed);
  const kinds = new Map<string, number>();
  for (const s of errors) {
    const k = s.error ?? String(s.status);
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }
  const kindText = [...kinds].map(([k, n]) => `${k} ×${n}`).join(', ') || 'none';
  return [
    {
      section: SECTION,
      name: `SIGTERM under load via HAProxy (${deploys} deploys, drain ${DRAIN_MS} ms)`,
      opsPerSec: Math.round(samples.length / seconds),
      p50Us: Math.round(percentile(latencies, 0.5) * 1000),
      p99Us: Math.round(percentile(latencies, 0.99) * 1000),
      note: `client errors per deploy: ${perDeploy.join(', ')} (total ${errors.length} of ${samples.length} requests: ${kindText}); exit after SIGTERM: ${exitMs.map((ms) => Math.round(ms)).join(', ')} ms`,
    },
  ];
}

if (isEntryPoint(import.meta.url)) {
  runDeployBench().then(
    (rows) => {
      for (const r of rows)
        console.log(`${r.section} | ${r.name} | ${r.opsPerSec} req/s | ${r.note}`);
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
