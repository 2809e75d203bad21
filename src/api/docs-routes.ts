/** GET /openapi.json and the Swagger UI at /docs, both from the one generated document. */
import express from 'express';
import swaggerUi from 'swagger-ui-express';
import { openApiDocument } from './openapi';

export function docsRoutes(version: string): express.Router {
  const openApi = openApiDocument(version);
  const router = express.Router();
  router.get('/openapi.json', (_req, res) => {
    res.json(openApi);
  });
  router.use('/docs', swaggerUi.serve, swaggerUi.setup(openApi, { customSiteTitle: 'Onboarding service API' }));
  return router;
}
