import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ensureTemporalCli } from '../../src/local-stack/temporal-cli';

/**
 * Once per run: resolve (and if needed build) the Temporal CLI that test files start their
 * dev servers from, and compile dist/ (with its workflow bundle) for the tests that run the real
 * entry points as processes.
 */
export default function globalSetup(): void {
  process.env.TEMPORAL_CLI = ensureTemporalCli();
  const root = join(__dirname, '..', '..');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], {
    cwd: root,
    stdio: 'inherit',
  });
  // The compiled worker runs the pre-built workflow bundle, so it must be made from this source too.
  execFileSync(process.execPath, [join(root, 'dist', 'scripts', 'bundle-workflows.js')], { cwd: root, stdio: 'inherit' });
}
