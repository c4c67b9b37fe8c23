/**
 * Supersedes "answers misses (no throw) with a wrong password, and never logs it": that test
 * spies on `Logger.prototype.warn` only, so it passes whatever reaches other channels (and with
 * nothing logged at all). Here the app's default logger writes for real and every channel text can
 * leave the process by is captured; the failure itself must be in the capture, so the check cannot
 * pass because logging moved or stopped.
 *
 * In its own file: `@nestjs/testing` replaces the static logger with one that drops warnings, so
 * this file builds no testing module and installs the default `ConsoleLogger` itself.
 */
import { jest } from '@jest/globals';
import { ConsoleLogger, Logger } from '@nestjs/common';
import { RedisCache } from '../../src/cache/stores/redis/redis-cache.js';
import { RedisServerProcess } from '../harness/redis-server.js';

describe('a wrong Redis password', () => {
  let server: RedisServerProcess;
  const output: string[] = [];
  const restore: Array<() => void> = [];

  /** Captures every way text leaves the process: both streams and every console method. */
  function captureAllOutput(): void {
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write;
      stream.write = ((chunk: unknown) => {
        output.push(String(chunk));
        return true;
      }) as typeof stream.write;
      restore.push(() => (stream.write = original));
    }
    for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
      const spy = jest.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        output.push(args.map(String).join(' '));
      });
      restore.push(() => spy.mockRestore());
    }
  }

  beforeAll(async () => {
    Logger.overrideLogger(new ConsoleLogger()); // as a Nest app logs by default
    server = await RedisServerProcess.start({
      args: ['--user', 'app', 'on', '>right-pw', '~*', '&*', '+@all'],
    });
  });
  afterAll(async () => {
    for (const undo of restore.splice(0).reverse()) undo();
    await server?.stop();
  });

  it('answers misses, reports down, and logs the failure without the password on any channel', async () => {
    captureAllOutput();
    const cache = new RedisCache({
      url: `redis://app:wrong-pw@127.0.0.1:${server.port}`,
      connectTimeoutMs: 1000,
    });
    try {
      await cache.connect();
      expect(await cache.set('k', 'v', 1000)).toBe(false);
      expect(await cache.get('k')).toBeUndefined();
      expect((await cache.getHealth()).status).toBe('down');
    } finally {
      await cache.disconnect();
      for (const undo of restore.splice(0).reverse()) undo();
    }
    const text = output.join('\n');
    expect(text).toMatch(/WRONGPASS/); // the failure was logged, and captured here
    expect(text).not.toContain('wrong-pw');
  });
});
