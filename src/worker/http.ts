import express from 'express';
import { type DependencyCheck, healthRouter, type LivenessProblem } from '../health';
import { metricsRouter, type Registry } from '../metrics';

/** The worker's own HTTP surface (WORKER_HTTP_PORT): /healthz, /readyz and /metrics, as on the API. */
export function createWorkerHttpApp(deps: {
  registry: Registry;
  checks: Record<string, DependencyCheck>;
  liveness?: LivenessProblem;
}): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(healthRouter(deps.checks, { liveness: deps.liveness }));
  app.use(metricsRouter(deps.registry));
  app.use((_req, res) => {
    res.status(404).json({ status: 404, title: 'Not found' });
  });
  return app;
}
