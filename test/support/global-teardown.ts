import { RUN_GROUP_VAR } from '../harness/env';
import { leftoverRunResources, removeLeftovers } from '../harness/run-resources';
import { testConfig } from './stack';

/**
 * Once after every test file of a pass: "tests clean up what they create", checked. Every
 * database, queue and exchange a test makes (the chaos run's and the benchmark test's included)
 * is named with a suffix that carries this pass's run group (global-setup.ts); any still there now
 * was left by a test of this pass, never by another run beside it. They are removed, so the shared
 * services stay as they were found, and the pass fails, naming them: the suffix starts with the
 * time it was made, and `jest --json`'s start and end times say which files were running then.
 */
export default async function globalTeardown(): Promise<void> {
  const group = process.env[RUN_GROUP_VAR];
  if (!group) throw new Error(`${RUN_GROUP_VAR} unset: globalSetup did not run`);
  const config = testConfig('leftover-check');
  const left = await leftoverRunResources(group, config.postgres.url);
  const count = left.databases.length + left.queues.length + left.exchanges.length;
  if (count === 0) return;
  await removeLeftovers(left, config);
  throw new Error(`tests left ${count} resources of their own behind (removed now): ${JSON.stringify(left)}`);
}
