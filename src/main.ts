import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { loadAppConfig } from '../config/app-config.js';
import { AppModule } from './app.module.js';
import { configureApp } from './configure-app.js';

/** Starts the stock-analysis app on `PORT` (default 3000). */
async function bootstrap(): Promise<void> {
  const config = loadAppConfig();
  const app = await NestFactory.create(AppModule.forConfig(config), { bufferLogs: false });
  configureApp(app);
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
