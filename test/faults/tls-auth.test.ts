import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Logger } from '@nestjs/common';
import { RedisCache } from '../../src/cache/stores/redis/redis-cache.js';
import { redact } from '../../src/cache/util/rate-limited-logger.js';
import { freePort, RedisServerProcess } from '../harness/redis-server.js';
import { createCacheContext, uniquePrefix } from '../support/cache-context.js';

/** A throwaway CA and a server certificate for 127.0.0.1, made with openssl. */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=market-cache test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
  );
  run(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
  );
  execFileSync('sh', ['-c', 'printf "subjectAltName=IP:127.0.0.1" > san.ext'], { cwd: dir });
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'san.ext',
    '-out',
    'server.crt',
  );
  return {
    ca: path.join(dir, 'ca.crt'),
    cert: path.join(dir, 'server.crt'),
    key: path.join(dir, 'server.key'),
  };
}

describe('TLS (rediss://) with an ACL user', () => {
  let dir: string;
  let server: RedisServerProcess;
  let tlsPort: number;
  let certs: { ca: string; cert: string; key: string };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'market-cache-tls-'));
    certs = makeCertificates(dir);
    tlsPort = await freePort();
    server = await RedisServerProcess.start({
      args: [
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        certs.cert,
        '--tls-key-file',
        certs.key,
        '--tls-ca-cert-file',
        certs.ca,
        '--tls-auth-clients',
        'no',
        '--user',
        'app',
        'on',
        '>s3cret-pw',
        '~*',
        '&*',
        '+@all',
      ],
    });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores and reads over TLS with user and password from the URL', async () => {
    const ctx = await createCacheContext({
      redisUrl: `rediss://app:s3cret-pw@127.0.0.1:${tlsPort}`,
      tls: { ca: readFileSync(certs.ca) },
      keyPrefix: uniquePrefix('tls'),
    });
    try {
      expect(ctx.store).toBeInstanceOf(RedisCache);
      expect(await ctx.cache.set('market_data:t', { v: 'tls' })).toBe(true);
      ctx.tiered.l1.clear();
      expect(await ctx.cache.lookup('market_data:t')).toMatchObject({
        success: true,
        source: 'l2',
        value: { v: 'tls' },
      });
      const health = await ctx.store.getHealth();
      expect(health).toMatchObject({ status: 'up' });
      expect(JSON.stringify(health)).not.toContain('s3cret');
    } finally {
      await ctx.close();
    }
  });

  it('answers misses (no throw) with a wrong password, and never logs it', async () => {
    const warnings: string[] = [];
    const spy = jestSpyOnLogger(warnings);
    const cache = new RedisCache({
      url: `rediss://app:wrong-pw@127.0.0.1:${tlsPort}`,
      tls: { ca: readFileSync(certs.ca) },
      connectTimeoutMs: 1000,
    });
    try {
      await cache.connect();
      expect(await cache.set('k', 'v', 1000)).toBe(false);
      expect(await cache.get('k')).toBeUndefined();
      expect((await cache.getHealth()).status).toBe('down');
      expect(warnings.join('\n')).not.toContain('wrong-pw');
    } finally {
      spy();
      await cache.disconnect();
    }
    expect(redact('connect to redis://app:wrong-pw@host:6379 failed')).toBe(
      'connect to redis://***@host:6379 failed',
    );
  });
});

/** Collects Nest logger warnings; answers a function that restores the logger. */
function jestSpyOnLogger(into: string[]): () => void {
  const original = Logger.prototype.warn;
  Logger.prototype.warn = function (message: unknown) {
    into.push(String(message));
  };
  return () => {
    Logger.prototype.warn = original;
  };
}
