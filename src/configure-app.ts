import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';
import { EDGE_CONFIG_DEFAULTS, type EdgeConfig } from '../config/edge-config.js';
import { applyServerTimeouts, setupEdge } from './edge-setup.js';
import { setupDocs } from './market/docs.js';

/**
 * App-wide set-up shared by `main.ts` and the e2e tests, before `init`/`listen`: edge (body
 * limits, filters, pipes, no `X-Powered-By`), the HTTP server's header and request timeouts, and
 * API docs. `limits` default to `EDGE_CONFIG_DEFAULTS` (`main.ts` reads them from the environment).
 */
export function configureApp(
  app: INestApplication,
  limits: Partial<EdgeConfig> = {},
): INestApplication {
  const edge: EdgeConfig = { ...EDGE_CONFIG_DEFAULTS, ...limits };
  setupEdge(app, edge);
  const server: unknown = app.getHttpServer();
  if (server && typeof (server as Server).listen === 'function')
    applyServerTimeouts(server as Server, edge);
  setupDocs(app);
  return app;
}
