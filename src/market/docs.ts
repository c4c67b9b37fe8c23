import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';

/** Path of the Swagger UI; the OpenAPI JSON is served at `/docs-json`. */
export const DOCS_PATH = 'docs';

/** The OpenAPI document of the app (built from the controllers' decorators). */
export function createApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('market-cache')
    .setDescription(
      'Stock-analysis REST API over a Redis cache. Responses built from cached data carry asOf in the body and X-Cache (HIT | MISS | STALE), ETag ' +
        '(If-None-Match → 304) and Cache-Control: max-age. Range answers (bars, trades) also carry X-Cache-Coverage (full | partial | none): a partly ' +
        'cached range answers X-Cache: MISS. Bad input answers 400 naming the field; an unknown ticker 404; a failing source 503 (504 on timeout).',
    )
    .setVersion('0.1.0')
    .addApiKey(
      {
        type: 'apiKey',
        name: 'X-API-Key',
        in: 'header',
        description: 'Optional; counted against the daily quota',
      },
      'api-key',
    )
    .addApiKey(
      { type: 'apiKey', name: 'X-Admin-Key', in: 'header', description: 'Admin routes' },
      'admin-key',
    )
    .build();
  return SwaggerModule.createDocument(app, config);
}

/** OpenAPI: Swagger UI at `/docs` (assets served locally from swagger-ui-dist) and the JSON document at `/docs-json`. */
export function setupDocs(app: INestApplication): void {
  let document: OpenAPIObject | undefined;
  // Built on first request, once every module's routes are known.
  SwaggerModule.setup(DOCS_PATH, app, () => (document ??= createApiDocument(app)), {
    jsonDocumentUrl: `${DOCS_PATH}-json`,
    customSiteTitle: 'market-cache API',
  });
}
