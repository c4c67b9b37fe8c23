/**
 * The app as a real process (`node --import tsx src/main.ts`) on a free loopback port, for fleet
 * tests: started with its own environment, awaited until `/health/ready` answers 200, signalled,
 * and awaited until it exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, TEST_HOST } from '../../harness/redis-server.js';

/** The checkout whose `src/main.ts` is run: `APP_ROOT` when set, else the nearest one above this file. */
export const REPO_ROOT = process.env.APP_ROOT ?? findRoot(dirname(fileURLToPath(import.meta.url)));

function findRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'src', 'main.ts')) || !existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no checkout with src/main.ts above ${from}`);
    dir = up;
  }
  return dir;
}

/** How an app process ended, and when (`performance.now()` of this process). */
export interface AppExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

/** A running app process. */
export interface AppProcess {
  port: number;
  pid: number;
  /** Resolves once the process has exited. */
  exited: Promise<AppExit>;
  /** Everything it printed (stdout and stderr), for failure messages. */
  output(): string;
  /** Sends `signal`; returns `performance.now()` at sending. */
  signal(signal: NodeJS.Signals): number;
  /** Kills it (SIGKILL) if it still runs, and waits for the exit. */
  stop(): Promise<void>;
}

/** Starts the app with `env` on top of a memory-driver default (`PORT` in `env` picks the port, else a free one); resolves once it is ready (within `readyWithinMs`, generous). */
export async function startAppProcess(
  env: Record<string, string> = {},
  readyWithinMs = 60_000,
): Promise<AppProcess> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      PORT: String(port),
      CACHE_DRIVER: 'memory',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<AppExit>((done) =>
    child.once('exit', (code, signal) => done({ code, signal, at: performance.now() })),
  );
  let running = true;
  void exited.then(() => (running = false));
  const app: AppProcess = {
    port,
    pid: child.pid ?? -1,
    exited,
    output: () => out,
    signal: (signal) => {
      const at = performance.now();
      child.kill(signal);
      return at;
    },
    stop: async () => {
      if (running) child.kill('SIGKILL');
      await exited;
    },
  };
  const deadline = Date.now() + readyWithinMs;
  while (Date.now() < deadline) {
    if (!running) throw new Error(`app exited before it was ready:\n${out}`);
    if ((await statusOf(port, '/health/ready')) === 200) return app;
    await new Promise((r) => setTimeout(r, 200));
  }
  await app.stop();
  throw new Error(`app not ready within ${readyWithinMs} ms:\n${out}`);
}

/** The status of one GET on a fresh connection, or 0 when it failed. */
export function statusOf(port: number, path: string): Promise<number> {
  return new Promise((done) => {
    const req = http.get({ host: TEST_HOST, port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
    });
    req.on('error', () => done(0));
    req.setTimeout(5000, () => req.destroy());
  });
}
