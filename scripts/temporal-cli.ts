/** `npm run temporal:cli`: finds or builds the Temporal CLI (once, cached outside the checkout) and prints its path. */
import { ensureTemporalCli } from '../src/local-stack/temporal-cli';

try {
  process.stdout.write(`${ensureTemporalCli()}\n`);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
