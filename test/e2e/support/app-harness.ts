import type { INestApplication, ModuleMetadata } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { loadAppConfig, type AppConfig } from '../../../config/app-config.js';
import { AppModule } from '../../../src/app.module.js';
import { configureApp } from '../../../src/configure-app.js';
import { setupEdge } from '../../../src/edge-setup.js';

/** A running Nest app under test (not listening: supertest drives its HTTP server). */
export interface TestApp {
  app: INestApplication;
  /** The HTTP server to hand to supertest. */
  server: ReturnType<INestApplication['getHttpServer']>;
  close(): Promise<void>;
}

/** An `AppConfig` from environment-style settings (as `main.ts` reads them), e.g. `{ REDIS_URL, CACHE_KEY_PREFIX }`. */
export function testAppConfig(
  env: Record<string, string>,
  cache: AppConfig['cache'] = {},
): AppConfig {
  const config = loadAppConfig(env);
  return { ...config, cache: { ...config.cache, ...cache } };
}

/** Starts the whole app (`AppModule.forConfig(config)` + `configureApp`), as `main.ts` does, plus `extra` modules. */
export async function startApp(
  config: AppConfig,
  extra: NonNullable<ModuleMetadata['imports']> = [],
): Promise<TestApp> {
  return start({ imports: [AppModule.forConfig(config), ...extra] }, configureApp);
}

/** Starts a fixture module with the app's edge set-up (exception filter, validation pipe). */
export async function startFixture(metadata: ModuleMetadata): Promise<TestApp> {
  return start(metadata, setupEdge);
}

async function start(
  metadata: ModuleMetadata,
  setup: (app: INestApplication) => unknown,
): Promise<TestApp> {
  const moduleRef = await Test.createTestingModule(metadata).compile();
  const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
  setup(app);
  await app.init();
  return { app, server: app.getHttpServer(), close: () => app.close() };
}

/** Lines of a Prometheus text exposition that break the format (empty when it parses). */
export function invalidExpositionLines(text: string): string[] {
  const sample =
    /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\\n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\\n])*")*,?\})? (-?(\d+(\.\d+)?([eE][+-]?\d+)?)|NaN|\+Inf|-Inf)( -?\d+)?$/;
  const comment =
    /^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped))$/;
  return text
    .split('\n')
    .filter(
      (line) => line !== '' && !(line.startsWith('#') ? comment.test(line) : sample.test(line)),
    );
}

/** The value of one sample (`name{labels}`) in a Prometheus exposition, or `undefined`. Label order as written by prom-client. */
export function sampleValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([^{\s]+)(\{(.*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const found = Object.fromEntries(
      [...(m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:\\.|[^"\\])*)"/g)].map((x) => [
        x[1],
        x[2],
      ]),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(m[4]);
  }
  return undefined;
}
