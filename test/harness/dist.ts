import { extname, join } from 'node:path';

/**
 * The compiled tree (dist/) that harnesses run the entry points from, whether this module runs
 * from source (under ts-jest: test/harness/) or compiled (dist/test/harness/).
 */
export const DIST = extname(__filename) === '.ts' ? join(__dirname, '..', '..', 'dist') : join(__dirname, '..', '..');
