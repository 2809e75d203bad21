/**
 * Bundles workflows/ once at build time (`npm run build`), so a worker starts without running
 * webpack: faster, and without webpack's memory in every worker process. Two bundles: the plain
 * one, and one with the tracing interceptors for a worker with tracing on, so that a worker
 * without tracing loads nothing of OpenTelemetry, in its sandbox either.
 */
import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import {
  PREBUILT_TRACED_WORKFLOW_BUNDLE,
  PREBUILT_WORKFLOW_BUNDLE,
  TRACING_SHARED_WORKFLOW_MODULES,
  TRACING_WORKFLOW_INTERCEPTORS,
} from '../src/worker/onboarding-worker';

async function bundle(path: string, workflowInterceptorModules: string[], preloadModules: string[]): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    workflowInterceptorModules,
    preloadModules,
    logger: new DefaultLogger('WARN'),
  });
  writeFileSync(path, code);
  // On stderr: `npm run --silent dlq -- list --json` (whose pre-step builds) prints only the JSON on stdout.
  process.stderr.write(`workflow bundle: ${path} (${Math.round(code.length / 1024)} KiB)\n`);
}

async function main(): Promise<void> {
  await bundle(PREBUILT_WORKFLOW_BUNDLE, [], []);
  await bundle(PREBUILT_TRACED_WORKFLOW_BUNDLE, TRACING_WORKFLOW_INTERCEPTORS, TRACING_SHARED_WORKFLOW_MODULES);
}

main().catch((err: Error) => {
  process.stderr.write(`bundling the workflows failed: ${err.message}\n`);
  process.exit(1);
});
