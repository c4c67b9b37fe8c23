import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { MarketCacheModuleOptions } from './market-cache.options.js';

/** `MarketCacheModule.forRoot(options)` / `.forRootAsync({ imports, inject, useFactory })`, global by `isGlobal`. */
export const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<MarketCacheModuleOptions>({
    moduleName: 'MarketCache',
  })
    .setClassMethodName('forRoot')
    .setExtras({ isGlobal: false }, (definition, extras) => ({
      ...definition,
      global: extras.isGlobal,
    }))
    .build();
