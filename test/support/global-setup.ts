import { ensureTemporalCli } from '../../scripts/temporal-cli';

/** Resolves (and if needed builds) the Temporal CLI once; test files start their dev servers from it. */
export default function globalSetup(): void {
  process.env.TEMPORAL_CLI = ensureTemporalCli();
}
