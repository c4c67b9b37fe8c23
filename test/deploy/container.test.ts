/**
 * Packaging (issue 15), read without Docker: the Dockerfile builds in stages from the lock file,
 * ships production dependencies (and every package the app imports), runs `node` as the `node`
 * user under tini in exec form; docker-compose.yml runs that image with healthchecks,
 * `depends_on: service_healthy`, restart policies, no port beyond loopback, no default secret,
 * only environment names the config loaders read, and a Redis that cannot evict counters or locks.
 * The app started with the compose environment is in `compose-app.test.ts`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import { loadShutdownConfig } from '../../config/shutdown-config.js';
import {
  REPO_ROOT,
  argDefault,
  copyParts,
  dependsOn,
  durationMs,
  healthcheckCommand,
  instructionsOf,
  interpolate,
  knownEnvNames,
  loadCompose,
  parseDockerfile,
  publishedPorts,
  repoText,
  runtimePackages,
  serviceEnv,
  unknownEnvNames,
  type DockerStage,
} from './compose-support.js';

const docker = parseDockerfile(repoText('Dockerfile'));
const runtime = docker.stages[docker.stages.length - 1];
const stageNamed = (name: string | undefined): DockerStage | undefined =>
  docker.stages.find((s) => s.name === name);
const runs = (stage: DockerStage): string =>
  instructionsOf(stage, 'RUN')
    .map((i) => i.args)
    .join('\n');
const { services } = loadCompose();
const app = services.app;
/** What a user with neither a shell variable nor a `.env` gets. */
const appEnv = serviceEnv(app, {});
const lock = JSON.parse(repoText('package-lock.json')) as {
  packages: Record<string, { dev?: boolean; version?: string }>;
};

describe('Dockerfile', () => {
  it('builds in stages: npm ci from the lock file, compile, and a runtime with production dependencies only', () => {
    expect(docker.stages.length).toBeGreaterThanOrEqual(2);
    // The stage that compiles installs from the lock file first.
    const build = docker.stages.find((s) => /\bnpm run build\b/.test(runs(s)))!;
    expect(build).toBeDefined();
    const copied = instructionsOf(build, 'COPY').flatMap((i) => copyParts(i).sources);
    expect(copied).toContain('package-lock.json');
    expect(runs(build)).toMatch(/\bnpm ci\b/);
    // The runtime takes dist/ from it (the effective outDir under its WORKDIR) ...
    const outDir = 'dist'; // tsconfig.json "outDir": "./dist", inherited by tsconfig.build.json
    expect(JSON.parse(repoText('tsconfig.json')).compilerOptions.outDir).toBe(`./${outDir}`);
    const buildDir = instructionsOf(build, 'WORKDIR').pop()!.args;
    const fromBuild = instructionsOf(runtime, 'COPY')
      .map(copyParts)
      .filter((c) => c.from === build.name);
    expect(fromBuild.flatMap((c) => c.sources)).toContain(`${buildDir}/${outDir}`);
    // ... and node_modules from a stage that installed without dev dependencies.
    const modules = instructionsOf(runtime, 'COPY')
      .map(copyParts)
      .find((c) => c.sources.some((s) => s.endsWith('/node_modules')))!;
    expect(modules.from).toBeDefined();
    expect(modules.from).not.toBe(build.name);
    expect(runs(stageNamed(modules.from)!)).toMatch(/\bnpm (ci|prune)\b[^\n&|;]*--omit=dev/);
    expect(runtime).not.toBe(build);
    expect(runs(runtime)).not.toMatch(/\bnpm (ci|install)\b/);
  });

  it('runs as the unprivileged node user, set before the entry point and never undone', () => {
    const users = instructionsOf(runtime, 'USER').map((i) => i.args.trim());
    expect(users[users.length - 1]).toBe('node');
    const userAt = runtime.instructions.findIndex(
      (i) => i.keyword === 'USER' && i.args.trim() === 'node',
    );
    const entryAt = runtime.instructions.findIndex((i) => i.keyword === 'ENTRYPOINT');
    expect(userAt).toBeGreaterThanOrEqual(0);
    expect(userAt).toBeLessThan(entryAt);
    expect(users.every((u) => !/^(root|0)(:|$)/.test(u))).toBe(true);
  });

  it('starts node through an init, both in exec form (no shell in between to swallow SIGTERM)', () => {
    const entry = instructionsOf(runtime, 'ENTRYPOINT').pop()!;
    const cmd = instructionsOf(runtime, 'CMD').pop()!;
    expect(entry.exec).toBeDefined();
    expect(cmd.exec).toBeDefined();
    const [init, separator] = entry.exec!;
    expect(['tini', 'dumb-init', 'docker-init']).toContain(basename(init));
    expect(separator).toBe('--');
    // The init is installed in the image it runs in.
    expect(runs(runtime)).toMatch(new RegExp(`install\\b[^\\n]*\\b${basename(init)}\\b`));
    expect(cmd.exec![0]).toBe('node');
    for (const word of [...entry.exec!, ...cmd.exec!])
      expect(word).not.toMatch(/^(\/bin\/)?(sh|bash|npm)$/);
  });

  it('ships every package the app imports at run time (npm ci --omit=dev, plus the promoted ones)', () => {
    const deps = stageNamed(
      copyParts(instructionsOf(runtime, 'COPY').find((i) => /node_modules/.test(i.args))!).from,
    )!;
    const promoted = (argDefault(deps, 'APP_RUNTIME_PACKAGES') ?? '').split(/\s+/).filter(Boolean);
    for (const name of promoted) expect(lock.packages[`node_modules/${name}`]).toBeDefined();
    const imported = runtimePackages(['src/main.ts', 'src/market/providers/postgres/seed.ts']);
    expect(imported).toContain('@nestjs/core'); // the walk reached the app's modules
    const missing = [...imported].filter((name) => {
      const entry = lock.packages[`node_modules/${name}`];
      return !entry || (entry.dev === true && !promoted.includes(name));
    });
    expect(missing).toEqual([]);
  });

  it('copies only existing paths that .dockerignore lets through, and keeps installs, builds and secrets out', () => {
    const ignored = repoText('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const name of ['node_modules', 'dist', '.git', '.env', 'coverage'])
      expect(ignored).toContain(name);
    const fromContext = docker.stages.flatMap((s) =>
      instructionsOf(s, 'COPY')
        .map(copyParts)
        .filter((c) => c.from === undefined)
        .flatMap((c) => c.sources),
    );
    for (const source of fromContext) {
      expect(existsSync(join(REPO_ROOT, source))).toBe(true);
      expect(ignored).not.toContain(source.replace(/\/$/, ''));
    }
    // The compiling stage gets everything tsconfig.build.json needs.
    const buildConfig = JSON.parse(repoText('tsconfig.build.json')) as {
      extends: string;
      include: string[];
    };
    for (const needed of [
      'tsconfig.build.json',
      buildConfig.extends.replace(/^\.\//, ''),
      ...buildConfig.include,
    ])
      expect(fromContext).toContain(needed);
  });
});

describe('docker-compose.yml', () => {
  it('runs the app from the Dockerfile image, keeping its entry point, user and files', () => {
    const build = typeof app.build === 'string' ? { context: app.build } : app.build!;
    expect(build.context).toBe('.');
    expect(build.dockerfile ?? 'Dockerfile').toBe('Dockerfile');
    expect(build.target ?? runtime.name).toBe(runtime.name);
    expect(app.command).toBeUndefined();
    expect(app.entrypoint).toBeUndefined();
    expect(app.user).toBeUndefined();
    expect(app.volumes ?? []).toEqual([]);
  });

  it('publishes no port beyond loopback (Redis and PostgreSQL have no auth worth exposing)', () => {
    const published = Object.entries(services).flatMap(([name, s]) =>
      publishedPorts(s).map((p) => ({ name, ...p })),
    );
    expect(published.map((p) => p.name)).toEqual(expect.arrayContaining(['app', 'redis']));
    for (const p of published)
      expect({ [p.name]: p.hostIp }).toEqual({
        [p.name]: expect.stringMatching(/^(127\.0\.0\.1|::1)$/),
      });
  });

  it('has healthchecks for Redis, PostgreSQL and the app, the app on /health/ready of its PORT', () => {
    const test = (name: string) => services[name].healthcheck?.test;
    expect(test('redis')).toEqual(expect.arrayContaining(['redis-cli', 'ping']));
    expect(test('postgres')).toEqual(expect.arrayContaining(['pg_isready']));
    const appTest = test('app') as string[];
    expect(appTest[0]).toBe('CMD');
    expect(appTest.join(' ')).toContain('/health/ready');
    expect(appTest.join(' ')).toContain('process.env.PORT');
    expect(appEnv.PORT).toBe(publishedPorts(app)[0].target);
    // The image has one too (for `docker run`), the same command.
    expect(healthcheckCommand(instructionsOf(runtime, 'HEALTHCHECK')[0])).toEqual(appTest.slice(1));
  });

  it('starts the app after its stores are healthy, and restarts what must stay up', () => {
    const appDeps = dependsOn(app);
    expect(appDeps.redis.condition).toBe('service_healthy');
    expect(appDeps.postgres.condition).toBe('service_healthy');
    expect(dependsOn(services.seed).postgres.condition).toBe('service_healthy');
    for (const name of ['app', 'redis', 'postgres'])
      expect({ [name]: services[name].restart }).toEqual({
        [name]: expect.stringMatching(/^(always|unless-stopped|on-failure(:\d+)?)$/),
      });
    // Every dependency the app waits on has a healthcheck to wait for.
    for (const dep of Object.keys(appDeps)) expect(services[dep].healthcheck?.test).toBeDefined();
  });

  it('has no default admin key and no default password; PostgreSQL does not trust', () => {
    expect(appEnv.ADMIN_API_KEY ?? '').toBe('');
    expect(serviceEnv(app, { ADMIN_API_KEY: 'k-from-env' }).ADMIN_API_KEY).toBe('k-from-env');
    const secretish = /(^|_)(KEY|SECRET|PASSWORD|TOKEN)$/;
    for (const [name, service] of Object.entries(services))
      for (const [variable, value] of Object.entries(serviceEnv(service, {})))
        if (secretish.test(variable))
          expect({ [`${name}.${variable}`]: value }).toEqual({ [`${name}.${variable}`]: '' });
    expect(serviceEnv(services.postgres, {}).POSTGRES_HOST_AUTH_METHOD).toBeUndefined();
  });

  it('sets only environment variables the config loaders read (a misspelt name fails)', () => {
    const known = knownEnvNames();
    expect(known).toContain('REDIS_URL'); // the loaders were read at all
    for (const name of ['app', 'seed'])
      expect({ [name]: unknownEnvNames(serviceEnv(services[name], {}), known) }).toEqual({
        [name]: [],
      });
    const misspelt = loadCompose(
      repoText('docker-compose.yml').replace('REDIS_URL:', 'REDIS_ULR:'),
    );
    expect(unknownEnvNames(serviceEnv(misspelt.services.app, {}), known)).toEqual(['REDIS_ULR']);
  });

  it('bounds Redis memory with noeviction: no quota counter or lock (all have TTLs) can be evicted', () => {
    const command = services.redis.command as string[];
    const after = (flag: string) => command[command.indexOf(flag) + 1];
    expect(after('--maxmemory')).toMatch(/^\d+(mb|gb)$/);
    expect(after('--maxmemory-policy')).toBe('noeviction');
  });

  it('gives a draining app more than drain + timeout before docker stop kills it', () => {
    const shutdown = loadShutdownConfig(appEnv);
    expect(durationMs(app.stop_grace_period!)).toBeGreaterThan(
      shutdown.drainMs + shutdown.timeoutMs,
    );
  });

  it('observability profile: Prometheus scrapes the app /metrics, Grafana is provisioned with the dashboard', () => {
    const { prometheus, grafana } = services;
    expect(prometheus.profiles).toEqual(['observability']);
    expect(grafana.profiles).toEqual(['observability']);
    const mounts = (s: typeof grafana) =>
      Object.fromEntries(
        (s.volumes as string[]).map((v) => v.split(':')).map(([host, inside]) => [inside, host]),
      );
    const promMounts = mounts(prometheus);
    const scrape = parse(repoText(promMounts['/etc/prometheus/prometheus.yml'])) as {
      scrape_configs: { metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    expect(scrape.scrape_configs[0].metrics_path ?? '/metrics').toBe('/metrics');
    expect(scrape.scrape_configs[0].static_configs[0].targets).toEqual([`app:${appEnv.PORT}`]);
    const grafanaMounts = mounts(grafana);
    const provisioning = grafanaMounts['/etc/grafana/provisioning'];
    const read = (file: string) => parse(readFileSync(join(REPO_ROOT, provisioning, file), 'utf8'));
    const source = read('datasources/prometheus.yml').datasources[0];
    expect(source).toMatchObject({
      type: 'prometheus',
      url: 'http://prometheus:9090',
      isDefault: true,
    });
    const provider = read('dashboards/market-cache.yml').providers[0];
    const dashboardInside = Object.keys(grafanaMounts).find((k) => k.endsWith('.json'))!;
    expect(grafanaMounts[dashboardInside]).toBe('./deploy/grafana/market-cache.dashboard.json');
    expect(dashboardInside.startsWith(`${provider.options.path}/`)).toBe(true);
    for (const port of [...publishedPorts(prometheus), ...publishedPorts(grafana)])
      expect(port.hostIp).toBe('127.0.0.1');
    for (const host of Object.values({ ...promMounts, ...grafanaMounts }))
      expect({ [host]: existsSync(join(REPO_ROOT, host)) }).toEqual({ [host]: true });
  });

  it('interpolates like Compose: defaults, empty values and $$', () => {
    expect(interpolate('${A:-x}', {})).toBe('x');
    expect(interpolate('${A:-x}', { A: '' })).toBe('x');
    expect(interpolate('${A-x}', { A: '' })).toBe('');
    expect(interpolate('$${A}/${B}', { B: 'b' })).toBe('${A}/b');
    expect(() => interpolate('${A:?needed}', {})).toThrow(/needed/);
  });
});
