/**
 * The library as a package any Nest 12 app installs: `npm pack` (which builds it), the tarball
 * installed with `npm ci --offline` into a fresh app this test writes (from the local npm cache
 * only, see offline-lock.ts), compiled with that app's own `tsc`, then booted twice: on the Redis
 * the harness started, and on `MarketCacheTestingModule` with no Redis at all.
 */
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { testRedis } from '../harness/test-env.js';
import { writeConsumerApp } from './consumer-app.js';
import { deriveOfflineLock, type Manifest } from './offline-lock.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const repoManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Manifest;

/** What the tarball may hold: the built library (JS + declarations), package.json, README, licence. */
const ALLOWED = /^(package\.json|README\.md|LICENSE|dist\/lib\/[\w./-]+\.(js|d\.ts))$/;
/** App, test and bench files, by folder or name, wherever they would sit. */
const FORBIDDEN =
  /(^|\/)(market|admin|test|tests|bench|config|scripts)\/|\.(spec|test)\.|\.ts$(?<!\.d\.ts)/;

/**
 * The environment of a child `npm` / `node`: this one without what the outer `npm test` set for
 * its own script (package fields, lifecycle, its local prefix) or the harness's addresses.
 */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const outer =
    /^(npm_package_|npm_lifecycle_|npm_config_local_prefix$|npm_command$|INIT_CWD$|TEST_REDIS)/;
  for (const [k, v] of Object.entries(process.env)) if (!outer.test(k)) env[k] = v;
  return { ...env, ...extra };
}

/** Runs a command; on failure, throws with the end of its output. */
function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = childEnv(),
): Promise<string> {
  return new Promise((done, fail) => {
    execFile(
      cmd,
      args,
      { cwd, env, maxBuffer: 64 * 1024 * 1024, timeout: 180_000 },
      (e, out, err) =>
        e
          ? fail(
              new Error(
                `${cmd} ${args.join(' ')} failed: ${e.message}\n${String(err).slice(-4000)}`,
              ),
            )
          : done(String(out)),
    );
  });
}

/** Files under `dir`, relative, with `/` separators. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return filesUnder(path).map((f) => `${name}/${f}`);
    return [name];
  });
}

/** The package a bare import specifier names (`@scope/x/sub.js` → `@scope/x`). */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

describe('market-cache as an installed package', () => {
  const work = mkdtempSync(join(tmpdir(), 'market-cache-package-'));
  const appDir = join(work, 'app');
  const timingsMs: Record<string, number> = {};
  let packedFiles: string[] = [];
  let tarball = '';

  const timed = async <T>(phase: string, step: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await step();
    } finally {
      timingsMs[phase] = Math.round(performance.now() - t0);
    }
  };

  beforeAll(async () => {
    // Step 1: pack (its prepack builds dist/lib), into the temp dir.
    const out = await timed('pack', () =>
      run('npm', ['pack', '--json', '--pack-destination', work], root),
    );
    const [info] = JSON.parse(out.slice(out.indexOf('['))) as {
      filename: string;
      files: { path: string }[];
    }[];
    packedFiles = info.files.map((f) => f.path).sort();
    tarball = join(work, info.filename);
    // Step 2: a fresh app and its offline lock, then the install from the npm cache alone.
    const spec = `file:../${info.filename}`;
    mkdirSync(appDir);
    const manifest = writeConsumerApp(appDir, spec);
    const registry = (await run('npm', ['config', 'get', 'registry'], root)).trim();
    const lock = deriveOfflineLock(
      join(root, 'package-lock.json'),
      manifest,
      { manifest: repoManifest, spec, tarball },
      registry,
    );
    writeFileSync(join(appDir, 'package-lock.json'), JSON.stringify(lock, null, 2));
    await timed('install', () =>
      run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], appDir),
    );
    // Step 3: the app's own tsc.
    await timed('tsc', () => run('node', ['node_modules/typescript/bin/tsc', '-p', '.'], appDir));
  }, 300_000);

  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
    console.log(`package test phases (ms): ${JSON.stringify(timingsMs)}`);
  });

  it('packs only the built library, its types, README and licence', () => {
    expect(packedFiles.filter((f) => !ALLOWED.test(f) || FORBIDDEN.test(f))).toEqual([]);
    expect(packedFiles).toEqual(
      expect.arrayContaining([
        'LICENSE',
        'README.md',
        'package.json',
        'dist/lib/index.js',
        'dist/lib/index.d.ts',
        'dist/lib/testing/index.js',
        'dist/lib/testing/index.d.ts',
      ]),
    );
  });

  it('installs exactly those files, and none of the app-only packages', () => {
    const installed = join(appDir, 'node_modules', 'market-cache');
    const files = filesUnder(installed).sort();
    expect(files.filter((f) => !ALLOWED.test(f) || FORBIDDEN.test(f))).toEqual([]);
    expect(files).toEqual(packedFiles);
    const present = [
      'pg',
      '@nestjs/swagger',
      '@nestjs/platform-express',
      '@nestjs/throttler',
    ].filter((name) => existsSync(join(appDir, 'node_modules', name)));
    expect(present).toEqual([]);
  });

  it('imports only its own dependencies, its peers and Node built-ins', () => {
    const lib = join(appDir, 'node_modules', 'market-cache', 'dist', 'lib');
    const allowed = new Set([
      ...Object.keys(repoManifest.dependencies ?? {}),
      ...Object.keys(repoManifest.peerDependencies ?? {}),
    ]);
    const foreign = new Set<string>();
    for (const file of filesUnder(lib).filter((f) => f.endsWith('.js') || f.endsWith('.d.ts'))) {
      const text = readFileSync(join(lib, file), 'utf8');
      // Static imports and re-exports (line starts), side-effect imports and dynamic import().
      const specifiers = [
        ...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^'.][^']*)'/gm),
        ...text.matchAll(/^\s*import\s+'([^'.][^']*)'/gm),
        ...text.matchAll(/\bimport\(\s*'([^'.][^']*)'\s*\)/g),
      ];
      for (const m of specifiers) {
        const name = packageOf(m[1]);
        if (!name.startsWith('node:') && !builtinModules.includes(name) && !allowed.has(name))
          foreign.add(`${relative(lib, join(lib, file))}: ${m[1]}`);
      }
    }
    expect([...foreign]).toEqual([]);
  });

  it('boots on the harness Redis: a user service injects CacheService, the factory runs once, the second call hits', async () => {
    const prefix = `pkg${Math.random().toString(36).slice(2, 10)}`; // its own keys on the shared Redis
    const out = await timed('boot-redis', () =>
      run(
        'node',
        ['dist/main.js'],
        appDir,
        childEnv({ REDIS_URL: testRedis().url, CACHE_KEY_PREFIX: prefix }),
      ),
    );
    const result = JSON.parse(out.trim().split('\n').pop() as string) as Record<string, unknown>;
    expect(result).toEqual({
      first: { ticker: '7203', price: 101 },
      second: { ticker: '7203', price: 101 },
      sourceCalls: 1,
      factoryCalls: 1,
      l1Hits: 1,
      store: 'redis',
    });
    const redis = new Redis(testRedis().url);
    try {
      const stored = `${prefix}:stock_price:7203:latest`; // {keyPrefix}:{data_type}:{entity}:latest
      expect(await redis.pttl(stored)).toBeGreaterThan(0);
      await redis.del(stored);
    } finally {
      redis.disconnect();
    }
  });

  it('boots on MarketCacheTestingModule without Redis: hits, stale serving, invalidation, expiry on its clock', async () => {
    const out = await timed('boot-testing', () => run('node', ['dist/unit-check.js'], appDir));
    const result = JSON.parse(out.trim().split('\n').pop() as string) as Record<string, unknown>;
    expect(result).toEqual({
      store: 'memory',
      miss: { ticker: '7203', price: 101 },
      hit: { ticker: '7203', price: 101 },
      callsAfterHit: 1,
      staleLookup: 'stale',
      stale: { ticker: '7203', price: 101 },
      refreshed: { ticker: '7203', price: 102 },
      callsAfterRefresh: 2,
      invalidated: 1,
      afterInvalidation: { ticker: '7203', price: 103 },
      expiredLookup: false,
      clockRestored: true,
    });
  });
});
