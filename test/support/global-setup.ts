import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ensureGoTool } from '../../src/local-stack/go-tools';
import { ensureMailpit } from '../../src/local-stack/mailpit';
import { ensureTemporalCli } from '../../src/local-stack/temporal-cli';
import { TEMPORAL_SERVER, TEMPORAL_SQL_TOOL, TEMPORAL_UI_SERVER } from '../../src/local-stack/temporal-cluster';
import { newRunGroup, RUN_GROUP_VAR } from '../harness/env';

/**
 * Once per run: resolve (and if needed build, once, into the cache outside the checkout) the Go
 * programs the tests run: the Temporal CLI for the dev servers, Mailpit for the mail, and the
 * Temporal server, SQL tool and Web UI server of the cluster tests, so no test builds one under
 * its own timeout. Then compile dist/ (with its workflow bundles) for the tests that run the real
 * entry points as processes.
 */
export default function globalSetup(): void {
  // Every name this pass's tests make carries the tag (jest's workers inherit it), for
  // global-teardown.ts's check of what they left behind.
  process.env[RUN_GROUP_VAR] = newRunGroup();
  process.env.TEMPORAL_CLI = ensureTemporalCli();
  for (const tool of [TEMPORAL_SERVER, TEMPORAL_SQL_TOOL, TEMPORAL_UI_SERVER]) ensureGoTool(tool);
  ensureMailpit();
  const root = join(__dirname, '..', '..');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], {
    cwd: root,
    stdio: 'inherit',
  });
  // The compiled worker runs the pre-built workflow bundle, so it must be made from this source too.
  execFileSync(process.execPath, [join(root, 'dist', 'scripts', 'bundle-workflows.js')], { cwd: root, stdio: 'inherit' });
}
