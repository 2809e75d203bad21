import type { Pool, PoolClient } from 'pg';

/** What a repository function runs its statements on: the pool, or one client (inside a transaction or an advisory lock). */
export type Queryable = Pool | PoolClient;
