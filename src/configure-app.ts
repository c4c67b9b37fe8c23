import type { INestApplication } from '@nestjs/common';
import { setupEdge } from './edge-setup.js';
import { setupDocs } from './market/docs.js';

/** App-wide set-up shared by `main.ts` and the e2e tests: edge (filters, pipes) and API docs. */
export function configureApp(app: INestApplication): INestApplication {
  setupEdge(app);
  setupDocs(app);
  return app;
}
