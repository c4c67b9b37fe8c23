import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { HeaderResponse } from '../http/cache-headers.js';
import { CacheMetrics } from './cache-metrics.js';

/** `GET /metrics`: the cache metrics in the Prometheus text exposition format (no quota, no auth: keep it off the public network). */
@Controller()
export class MetricsController {
  constructor(@Inject(CacheMetrics) private readonly metrics: CacheMetrics) {}

  /** The exposition text, with the registry's Content-Type. */
  @Get('metrics')
  async scrape(@Res({ passthrough: true }) res: HeaderResponse): Promise<string> {
    res.setHeader('Content-Type', this.metrics.contentType);
    return this.metrics.metrics();
  }
}
