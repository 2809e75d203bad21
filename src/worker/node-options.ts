/**
 * V8 heap limits for the worker process, main and workflow threads alike (Node passes them to
 * worker threads): without them V8 lets the heaps grow towards the machine's memory. With them
 * and the workflow cache cap (WORKFLOW_CACHE_SIZE), a 10,000 backlog drains in 222 MB RSS instead of 371 (bench/README.md, "Worker memory").
 * Node accepts them only on its command line or in NODE_OPTIONS, so whatever starts the worker
 * passes them: package.json's `worker` script, `npm start`, docker-compose.yml, the
 * benchmark and the chaos run. A module of its own, so that they need not load the Temporal SDK to read it.
 */
export const WORKER_NODE_OPTIONS = ['--max-old-space-size=96', '--max-semi-space-size=4'] as const;
