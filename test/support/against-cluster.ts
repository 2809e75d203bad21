/**
 * Imported first by a test file that re-runs a dev-server suite against a real Temporal cluster:
 * from here on, every startTemporal() of that file (startPipeline's too) starts a cluster of its
 * own (test/support/cluster.ts) instead of a dev server.
 */
import { clusterTestEnvironment } from './cluster';
import { useTemporalServer } from './stack';

useTemporalServer(clusterTestEnvironment);
