import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { loadAppConfig } from '../config/app-config.js';
import { loadEdgeConfig } from '../config/edge-config.js';
import { AppModule } from './app.module.js';
import { configureApp } from './configure-app.js';

/**
 * Starts the stock-analysis app on `PORT` (default 3000), with the edge limits of the
 * environment (`HTTP_BODY_LIMIT_BYTES`, `HTTP_JSON_MAX_DEPTH`, `HTTP_HEADERS_TIMEOUT_MS`,
 * `HTTP_REQUEST_TIMEOUT_MS`; see `config/edge-config.ts`).
 */
async function bootstrap(): Promise<void> {
  const config = loadAppConfig();
  const edge = loadEdgeConfig();
  // Nest's own body parsers stay off: `configureApp` registers them with the edge limits.
  const app = await NestFactory.create(AppModule.forConfig(config), {
    bufferLogs: false,
    bodyParser: false,
  });
  configureApp(app, edge);
  app.enableShutdownHooks();
  await app.listen(config.port, '0.0.0.0');
  const driver =
    config.cache.driver ??
    (config.cache.redisUrl || config.cache.clusterNodes || config.cache.sentinels
      ? 'redis'
      : 'memory');
  new Logger('Bootstrap').log(
    `market-cache app listening on port ${config.port} (cache driver: ${driver}, source: ${config.databaseUrl ? 'postgres' : 'synthetic'})`,
  );
}

void bootstrap();
