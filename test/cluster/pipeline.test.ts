/**
 * test/integration/pipeline.test.ts again, against a real Temporal cluster on Postgres
 * (test/support/cluster.ts) instead of the dev server: signup to one row, 409, 20 concurrent
 * duplicates to one row and the rest in the DLQ, poison and exhausted retries dead-lettered.
 *
 * Why this subset of the suite runs twice: only what depends on how Temporal behaves. The
 * cluster differs from the dev server in its persistence (Postgres instead of SQLite), its
 * visibility store (SQL, where our search attribute is a per-namespace alias that we register),
 * its four services talking over gRPC, and a namespace we create. Three suites exercise that:
 * this one (workflow start-or-attach by id, concurrent duplicates, failures and the run
 * timeout), test/cluster/dlq.test.ts (replay starts a run again under the id of a failed one)
 * and test/cluster/temporal-ui.test.ts (visibility queries by search attribute, the UI server).
 * test/cluster/scale-out.test.ts adds two APIs and two workers. The rest does not depend on the
 * server: validation, security, the payload codec (client-side), metrics, logs, the benchmark.
 * Each cluster file starts its own cluster in a few seconds, so the four add about as much to
 * `npm test` as four more integration files (the figures are in docs/deployment.md), well
 * inside CI's 90 minutes.
 */
import '../support/against-cluster';
import '../integration/pipeline.test';
