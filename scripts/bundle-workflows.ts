/**
 * Bundles workflows/ once at build time (`npm run build`), so a worker starts without running
 * webpack: faster, and without webpack's memory in every worker process.
 */
import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { PREBUILT_WORKFLOW_BUNDLE } from '../src/worker/onboarding-worker';

async function main(): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: new DefaultLogger('WARN') });
  writeFileSync(PREBUILT_WORKFLOW_BUNDLE, code);
  // On stderr: `npm run --silent dlq -- list --json` (whose pre-step builds) prints only the JSON on stdout.
  process.stderr.write(`workflow bundle: ${PREBUILT_WORKFLOW_BUNDLE} (${Math.round(code.length / 1024)} KiB)\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`bundling the workflows failed: ${err.message}\n`);
  process.exit(1);
});
