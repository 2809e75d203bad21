/** GET /openapi.json and the Swagger UI at /docs, both from the one generated document of a listener. */
import express from 'express';
import swaggerUi from 'swagger-ui-express';
import { openApiDocument, type Plane } from './openapi';

export function docsRoutes(version: string, plane: Plane = 'public'): express.Router {
  const openApi = openApiDocument(version, plane);
  const router = express.Router();
  router.get('/openapi.json', (_req, res) => {
    res.json(openApi);
  });
  // serveFiles, not serve: each listener's UI reads its own document, even in one process.
  router.use('/docs', swaggerUi.serveFiles(openApi), swaggerUi.setup(openApi, { customSiteTitle: openApi.info.title }));
  return router;
}
