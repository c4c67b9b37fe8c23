import type { INestApplication } from '@nestjs/common';

/** OpenAPI document at `/docs`. */
export function setupDocs(app: INestApplication): void {
  void app;
}
