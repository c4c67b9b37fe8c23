/**
 * The app started as the image starts it, with exactly the environment docker-compose.yml gives
 * the `app` service (issue 15): compiled by the build stage's `npm run build`, run with the
 * image's CMD from a directory laid out like its WORKDIR, environment = the image's ENV + the
 * service's `environment` interpolated for a user with no `.env`. Only what cannot exist outside
 * Docker is mapped, and nothing is added:
 * - a URL whose host is a compose service: `redis://redis:6379` → the harness Redis (a test never
 *   reaches a Redis it did not start); any other service host fails the test (none is set today:
 *   DATABASE_URL is empty without a `.env`, so the synthetic source answers);
 * - `PORT`: a free loopback port instead of 3000 (which the published port maps to anyway).
 * Not covered without Docker: tini itself (the CMD gets SIGTERM directly here).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, redisCommand } from '../harness/redis-server.js';
import { testRedis } from '../harness/test-env.js';
import {
  buildApp,
  getJson,
  runHealthcheck,
  startCommand,
  waitForStatus,
  type BuiltApp,
  type RunningApp,
} from './built-app.js';
import {
  durationMs,
  instructionsOf,
  loadCompose,
  parseDockerfile,
  repoText,
  serviceEnv,
  stageEnv,
} from './compose-support.js';

const docker = parseDockerfile(repoText('Dockerfile'));
const runtime = docker.stages[docker.stages.length - 1];
const { services } = loadCompose();

/** The compose environment of `app` with service hosts mapped to what the harness started (see the file comment). */
async function mappedAppEnv(): Promise<Record<string, string>> {
  const env = { ...stageEnv(runtime), ...serviceEnv(services.app, {}) };
  for (const [name, value] of Object.entries(env)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      continue; // not a URL: passed on unchanged
    }
    if (!(url.hostname in services)) continue;
    if (url.hostname !== 'redis')
      throw new Error(`${name}: no mapping for service '${url.hostname}'`);
    const redis = testRedis();
    url.hostname = redis.host;
    url.port = String(redis.port);
    env[name] = url.toString().replace(/\/$/, '');
  }
  return { ...env, PORT: String(await freePort()) };
}

describe('the app with exactly the compose environment', () => {
  let built: BuiltApp;
  let app: RunningApp;
  let env: Record<string, string>;
  let port: number;
  const healthcheck = (services.app.healthcheck!.test as string[]).slice(1); // after 'CMD'

  beforeAll(async () => {
    const buildStage = docker.stages.find((s) =>
      instructionsOf(s, 'RUN').some((i) => /\bnpm run build\b/.test(i.args)),
    )!;
    const script = /\bnpm run (\S+)/.exec(
      instructionsOf(buildStage, 'RUN')
        .map((i) => i.args)
        .join('\n'),
    )![1];
    built = await buildApp(script, 'dist');
    if (built.buildOutput)
      console.warn(`build reported (output still emitted):\n${built.buildOutput}`);
    env = await mappedAppEnv();
    port = Number(env.PORT);
    const cmd = instructionsOf(runtime, 'CMD').pop()!.exec!;
    app = startCommand(cmd, built.dir, env);
    await waitForStatus(app, port, '/health/ready', 200, 90_000);
  }, 240_000);

  afterAll(async () => {
    app?.kill('SIGKILL');
    await app?.exited;
    built?.remove();
  });

  it('answers /health/ready 200 on the compose Redis, and the compose healthcheck passes', async () => {
    expect(env.REDIS_URL).toBe(testRedis().url);
    const ready = await getJson(port, '/health/ready');
    expect(ready.status).toBe(200);
    expect(await runHealthcheck(healthcheck, env)).toBe(0);
  });

  it('caches in the compose Redis (mapped), under the compose key prefix', async () => {
    const redis = testRedis();
    const pattern = `${env.CACHE_KEY_PREFIX}:*stock_price*AMZN*`;
    const scan = () => redisCommand(redis.port, 'SCAN', '0', 'MATCH', pattern, 'COUNT', '100000');
    expect(await scan()).not.toContain('AMZN');
    expect((await getJson(port, '/api/stocks/AMZN/price')).status).toBe(200);
    expect(await scan()).toContain('AMZN');
  });

  it('refuses the admin routes whatever key is sent: the compose file sets no admin key', async () => {
    for (const key of ['change-me', 'admin', ''])
      expect(
        (await getJson(port, '/api/cache/stocks/ACME', 'DELETE', { 'X-Admin-Key': key })).status,
      ).toBe(401);
  });

  it('has the seed service script in the build output', () => {
    const entry = services.seed.entrypoint as string[];
    const script = entry[entry.indexOf('node') + 1];
    expect(existsSync(join(built.dir, script))).toBe(true);
  });

  it('on SIGTERM: readiness 503 (the healthcheck fails) while draining, exit 0 within stop_grace_period', async () => {
    const sentAt = Date.now();
    app.kill('SIGTERM');
    await waitForStatus(app, port, '/health/ready', 503, 10_000);
    expect(await runHealthcheck(healthcheck, env)).toBe(1);
    const { code } = await app.exited;
    const tookMs = Date.now() - sentAt;
    expect(code).toBe(0);
    expect(tookMs).toBeLessThan(durationMs(services.app.stop_grace_period!));
    console.log(
      `SIGTERM to exit: ${tookMs} ms (stop_grace_period ${services.app.stop_grace_period})`,
    );
  }, 60_000);
});
