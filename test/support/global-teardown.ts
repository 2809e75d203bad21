import { leftoverRunResources, removeLeftovers } from '../harness/run-resources';
import { RUN_STARTED_AT_VAR } from './global-setup';
import { testConfig } from './stack';

/**
 * Once after every test file: "tests clean up what they create", checked. Every database, queue
 * and exchange a test makes is named with a suffix that says when it was made (uniqueSuffix); any
 * of this run's still there now was left by a test. They are removed, so the shared services stay
 * as they were found, and the run fails, naming them: the suffix's time and the files running
 * then (`jest --json`'s start and end times) find the test.
 */
export default async function globalTeardown(): Promise<void> {
  const startedAt = Number(process.env[RUN_STARTED_AT_VAR]);
  if (!Number.isFinite(startedAt)) throw new Error(`${RUN_STARTED_AT_VAR} unset: globalSetup did not run`);
  const config = testConfig('leftover-check');
  const left = { databases: [] as string[], queues: [] as string[], exchanges: [] as string[] };
  // The chaos test's runs and the benchmark's test make names of their own kinds.
  for (const kind of ['test', 'chaos', 'bench'] as const) {
    const found = await leftoverRunResources(kind, startedAt, config.postgres.url);
    left.databases.push(...found.databases);
    left.queues.push(...found.queues);
    left.exchanges.push(...found.exchanges);
  }
  const count = left.databases.length + left.queues.length + left.exchanges.length;
  if (count === 0) return;
  await removeLeftovers(left, config);
  throw new Error(`tests left ${count} resources of their own behind (removed now): ${JSON.stringify(left)}`);
}
