/**
 * V8 heap limits for the worker process, main and workflow threads alike (Node passes them to
 * worker threads): without them V8 lets the heaps grow towards the machine's memory. With them
 * and the workflow cache cap (WORKFLOW_CACHE_SIZE), a 10,000 backlog drains in 222 MB RSS instead of 371 (bench/README.md, "Worker memory").
 * Node accepts them only on its command line or in NODE_OPTIONS, so whatever starts the worker
 * passes them, and WORKER_ENVIRONMENT below: package.json's `worker` script, `npm start`,
 * docker-compose.yml, the benchmark, the chaos run and the tracing memory test. A module of its own, so that they need not load the Temporal SDK to read it.
 */
export const WORKER_NODE_OPTIONS = ['--max-old-space-size=96', '--max-semi-space-size=4'] as const;

/**
 * The environment the worker starts with, over its own. MALLOC_ARENA_MAX=2: glibc's malloc gives
 * each thread that allocates an arena of its own, up to 8 per core, and the worker's many threads
 * (the Rust core's runtime, libuv's pool, the workflow thread) leave them fragmented. Two arenas
 * cut the worker's peak RSS by 13-28 MB in the benchmark's drains (with 10,000 verification runs
 * open: 256 -> 235 MB, under the 250 target), with CPU per run within the noise (it moved both
 * ways across three pairs of runs): bench/README.md, "Worker memory". glibc reads it once, at the process's first malloc,
 * so it has to be in the environment the process starts with, like the flags above; other C
 * libraries (musl, macOS) ignore it.
 */
export const WORKER_ENVIRONMENT = { MALLOC_ARENA_MAX: '2' } as const;
