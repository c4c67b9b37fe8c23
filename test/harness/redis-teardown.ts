/** Jest globalTeardown: stops the Redis servers started by global-setup and removes their temp dirs. */
import * as fs from 'node:fs';
import { TEST_ENV_FILE } from './test-env.js';

/** Stops everything started in global setup. */
export default async function globalTeardown(): Promise<void> {
  const state = globalThis.__MARKET_CACHE_REDIS__;
  // A Stryker worker keeps them for its next run (redis-setup.ts, reuseKept).
  if (!state || state.kept) return;
  await Promise.allSettled([state.standalone?.stop(), state.cluster?.stop()]);
  // Anything that refused to die gets SIGKILLed (also removes remaining temp dirs).
  state.standalone?.killSync();
  state.cluster?.servers.forEach((s) => s.killSync());
  globalThis.__MARKET_CACHE_REDIS__ = undefined;
  try {
    // Only remove the env file if it still describes our servers (another run may have replaced it).
    const env = JSON.parse(fs.readFileSync(TEST_ENV_FILE, 'utf8')) as {
      standalone?: { port?: number };
    };
    if (env.standalone?.port === state.standalone?.port) fs.rmSync(TEST_ENV_FILE, { force: true });
  } catch {
    // already gone
  }
}
