/**
 * test/integration/dlq.test.ts again, against a real Temporal cluster on Postgres: `npm run dlq`
 * explains each dead letter, and a replay starts a run again under the workflow id of one that
 * failed. Why this subset: see test/cluster/pipeline.test.ts.
 */
import '../support/against-cluster';
import '../integration/dlq.test';
