import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import { VendorRefreshes } from './vendor-refreshes.js';

const STOCK_ROUTE = /^\/api\/stocks\/([^/?#]{1,64})\//;

/**
 * Counts every request of a ticker (`/api/stocks/:ticker/…`) for the order of the vendor's
 * deferred refreshes. Mounted by the global `VendorBudgetModule`, so it runs before the HTTP
 * cache's fast path (which answers fresh repeats without reaching the data service): the count is
 * the demand, not only the requests that reach the source. Costs one map update per request.
 */
@Injectable()
export class VendorDemandMiddleware implements NestMiddleware {
  constructor(@Inject(VendorRefreshes) private readonly refreshes: VendorRefreshes) {}

  use(req: { originalUrl?: string; url?: string }, _res: unknown, next: () => void): void {
    const m = STOCK_ROUTE.exec(req.originalUrl ?? req.url ?? '');
    if (m) {
      try {
        this.refreshes.hit(decodeURIComponent(m[1]));
      } catch {
        // A malformed escape is not a ticker: not counted (validation answers 400 later).
      }
    }
    next();
  }
}
