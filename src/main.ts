import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Server } from 'node:http';
import { loadAppConfig } from '../config/app-config.js';
import { loadEdgeConfig } from '../config/edge-config.js';
import { loadShutdownConfig } from '../config/shutdown-config.js';
import { AppModule } from './app.module.js';
import { MarketCacheLifecycle } from './cache/index.js';
import { configureApp } from './configure-app.js';
import { drainOnSignals, GracefulDrain } from './health/graceful-drain.js';

/**
 * Starts the stock-analysis app on `PORT` (default 3000), with the edge limits of the
 * environment (`HTTP_BODY_LIMIT_BYTES`, `HTTP_JSON_MAX_DEPTH`, `HTTP_HEADERS_TIMEOUT_MS`,
 * `HTTP_REQUEST_TIMEOUT_MS`, `HTTP_KEEP_ALIVE_TIMEOUT_MS`, the anonymous throttle
 * `HTTP_THROTTLE_LIMIT` / `HTTP_THROTTLE_WINDOW_MS` and `HTTP_TRUST_PROXY`; see
 * `config/edge-config.ts`). On
 * SIGTERM or SIGINT it drains (`SHUTDOWN_DRAIN_MS`, `SHUTDOWN_TIMEOUT_MS`; see
 * `config/shutdown-config.ts`) and exits 0, or 1 when closing outlasts both.
 */
async function bootstrap(): Promise<void> {
  const config = loadAppConfig();
  const edge = loadEdgeConfig();
  const shutdown = loadShutdownConfig();
  const logger = new Logger('Bootstrap');
  // Nest's own body parsers stay off: `configureApp` registers them with the edge limits.
  const app = await NestFactory.create(AppModule.forConfig(config, edge), {
    bufferLogs: false,
    bodyParser: false,
  });
  configureApp(app, edge);
  const server = app.getHttpServer() as Server;
  server.keepAliveTimeout = edge.keepAliveTimeoutMs;
  const drain = new GracefulDrain(server, shutdown, {
    beginShutdown: () => app.get(MarketCacheLifecycle).beginShutdown(),
    closeApp: () => app.close(),
    log: (message) => new Logger('Shutdown').log(message),
  });
  drainOnSignals(drain, {
    log: (message) => new Logger('Shutdown').log(message),
    error: (message) => new Logger('Shutdown').error(message),
  });
  // Other termination signals close at once, as before.
  app.enableShutdownHooks(['SIGHUP', 'SIGQUIT']);
  await app.listen(config.port, '0.0.0.0');
  const driver =
    config.cache.driver ??
    (config.cache.redisUrl || config.cache.clusterNodes || config.cache.sentinels
      ? 'redis'
      : 'memory');
  logger.log(
    `market-cache app listening on port ${config.port} (cache driver: ${driver}, source: ${config.databaseUrl ? 'postgres' : 'synthetic'})`,
  );
}

void bootstrap();
