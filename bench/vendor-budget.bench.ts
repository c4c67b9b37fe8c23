/**
 * Vendor calls per 1,000 client requests, with and without the shared refresh budget, for a
 * Zipf-distributed ticker load (s = 1, 100 tickers) against the app on the HTTP vendor (the fake
 * vendor of the tests, loopback; memory driver; quote TTL 1 s; budget window 2 s). The same
 * seeded load runs twice: budget 20 calls per window, then a budget too large to bind.
 */
import 'reflect-metadata';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import { loadAppConfig } from '../config/app-config.js';
import { loadEdgeConfig } from '../config/edge-config.js';
import { AppModule } from '../src/app.module.js';
import { configureApp } from '../src/configure-app.js';
import { startFakeVendor } from '../test/support/fake-vendor.js';
import { runBenchScript, type BenchRow } from './lib.js';

const REQUESTS = 1000;
const SPREAD_MS = 4000;
const TICKERS = Array.from({ length: 100 }, (_, i) => `Z${String(i).padStart(3, '0')}`);

function zipf(count: number): string[] {
  const weights = TICKERS.map((_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: count }, () => {
    let r = rand() * total;
    for (let i = 0; i < weights.length; i++) if ((r -= weights[i]) <= 0) return TICKERS[i];
    return TICKERS[TICKERS.length - 1];
  });
}

function status(agent: http.Agent, port: number, path: string): Promise<number> {
  return new Promise((done) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
    });
    req.on('error', () => done(0));
  });
}

async function run(
  callsPerWindow: number,
): Promise<{ calls: number; ok: number; refused: number }> {
  const vendor = await startFakeVendor({ tickers: TICKERS });
  const env = {
    CACHE_DRIVER: 'memory',
    DATA_SOURCE: 'http',
    VENDOR_BASE_URL: vendor.url,
    VENDOR_CALLS_PER_MINUTE: String(callsPerWindow),
    VENDOR_CALLS_PER_DAY: '0',
    VENDOR_BUDGET_WINDOW_MS: '2000',
    VENDOR_TTL_SECONDS: 'stock_price=1',
    HTTP_THROTTLE_LIMIT: '0',
  };
  const edge = loadEdgeConfig(env);
  const app = await NestFactory.create(AppModule.forConfig(loadAppConfig(env), edge), {
    logger: false,
    bodyParser: false,
  });
  configureApp(app, edge);
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const picks = zipf(REQUESTS);
  const statuses: number[] = [];
  const start = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < REQUESTS) {
        const i = next++;
        const at = start + (i * SPREAD_MS) / REQUESTS;
        if (at > Date.now()) await new Promise((r) => setTimeout(r, at - Date.now()));
        statuses.push(await status(agent, port, `/api/stocks/${picks[i]}/price`));
      }
    }),
  );
  const calls = vendor.calls.filter((c) => c.metered).length;
  agent.destroy();
  await app.close();
  await vendor.close();
  return {
    calls,
    ok: statuses.filter((s) => s === 200).length,
    refused: statuses.filter((s) => s === 503).length,
  };
}

/** The section's rows: vendor calls per 1,000 requests (in `opsPerSec`), with the answers in the note. */
export async function runVendorBudgetBench(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const [name, perWindow] of [
    ['with budget (20 calls / 2 s)', 20],
    ['without budget', 1_000_000],
  ] as const) {
    const r = await run(perWindow);
    rows.push({
      section: 'vendor-budget',
      name: `vendor calls per 1,000 requests, ${name}`,
      opsPerSec: Math.round((r.calls * 1000) / REQUESTS),
      p50Us: 0,
      p99Us: 0,
      note: `${r.ok} × 200, ${r.refused} × 503; Zipf over ${TICKERS.length} tickers in ${SPREAD_MS} ms, quote TTL 1 s`,
    });
  }
  return rows;
}

runBenchScript(import.meta.url, runVendorBudgetBench);
