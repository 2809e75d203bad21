/**
 * test/e2e/temporal-ui.test.ts again, against a real Temporal cluster on Postgres and the Web UI
 * server (temporalio/ui-server) on a port of its own: headless Chromium finds the signup's run
 * by the OnboardingState search attribute and by its workflow id, and sees it Completed with its
 * three activities. Why this subset: see test/cluster/pipeline.test.ts.
 */
import '../support/against-cluster';
import '../e2e/temporal-ui.test';
