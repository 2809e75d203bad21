/**
 * The command lines of the harness entry points (`npm run chaos`, `npm run bench`): node's
 * parseArgs, strict, plus --help. --help prints the usage and exits 0; an option it does not
 * know, or a value that is not what the option takes, exits 2 with one line saying why.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type OptionSpecs = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | undefined>;

/** A command line that cannot run: the entry prints it as one line and exits 2. */
export class UsageError extends Error {}

export interface CommandLine {
  /** The string value of `--name`, or undefined when not given. */
  string(name: string): string | undefined;
  /** `--name` as a non-negative number, or `fallback`. */
  number(name: string, fallback: number): number;
  /** `--name` as comma-separated non-negative numbers (an empty value is an empty list), or `fallback`. */
  numbers(name: string, fallback: number[]): number[];
  positionals: string[];
}

/** Parses `argv`; prints `usage` and exits 0 on --help, throws UsageError on anything it cannot take. */
export function parseCommandLine(usage: string, options: OptionSpecs, argv: string[], allowPositionals = false): CommandLine {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals }));
  } catch (err) {
    // Node's message may run over several lines; the entry prints it as one.
    throw new UsageError((err as Error).message.replace(/\s*\n\s*/g, ' '));
  }
  if (values.help) {
    process.stdout.write(`${usage.trim()}\n`);
    process.exit(0);
  }
  const toNumber = (name: string, text: string) => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`--${name} needs a non-negative number, not '${text}'`);
    return n;
  };
  const string = (name: string) => values[name] as string | undefined;
  return {
    string,
    number: (name, fallback) => (string(name) === undefined ? fallback : toNumber(name, string(name) as string)),
    numbers: (name, fallback) => {
      const text = string(name);
      return text === undefined ? fallback : text.split(',').filter(Boolean).map((part) => toNumber(name, part));
    },
    positionals,
  };
}

/**
 * Runs an entry point's main and exits with its code: 2 and one line for a UsageError, 1 and
 * the error for any other failure.
 */
export function runCommand(program: string, main: () => Promise<number>, log: (line: string) => void): void {
  main().then(
    (code) => process.exit(code),
    (err: Error) => {
      if (err instanceof UsageError) {
        process.stderr.write(`${program}: ${err.message} (see --help)\n`);
        process.exit(2);
      }
      log(`failed: ${err.stack ?? err.message}`);
      process.exit(1);
    },
  );
}
