import type { Config } from '../../src/config';
import { checkDependencies, type Dependency } from '../../src/preflight';
import { eventually } from './wait';

/** Waits until each of `deps` answers, as the service's own start-up check sees it: after a start or a restart. */
export async function untilReachable(config: Config, deps: Dependency[], timeoutMs = 60_000): Promise<void> {
  await eventually(async () => (await checkDependencies(config, deps), true), timeoutMs, deps.join(' and '));
}
