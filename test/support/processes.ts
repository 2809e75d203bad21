import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Env } from '../../src/config';
import { DIST } from '../harness/dist';

export { DIST };

/** Runs a compiled script to completion and returns what it printed. */
export function runScript(script: string, args: string[], env: Env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(DIST, script), ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
