/**
 * `npm run migrate`: creates the database if it is missing, applies the pending migrations and
 * exits. docker-compose.yml runs it once, as a job the API and the worker wait for, so that a
 * deploy migrates in one place before any process starts. The processes still migrate at start
 * (an advisory lock serialises them), which is then a no-op.
 */
import { maskUrl, loadConfig } from '../src/config';
import { openDatabase } from '../src/db/postgres';
import { createLogger } from '../src/logger';
import { exitOnStartFailure } from '../src/process';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ name: 'migrate', level: config.logLevel });
  const { pool, applied } = await openDatabase(config.postgres, logger);
  await pool.end();
  logger.info({ database: maskUrl(config.postgres.url), applied }, applied.length > 0 ? 'applied migrations' : 'database schema up to date');
}

main().catch(exitOnStartFailure('migrate'));
