import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * parseArgs for the bench programs: `--help`/`-h` prints the program's usage (the first block
 * comment of its source) and exits 0; an unknown or malformed flag prints one line and the usage
 * hint and exits 2, instead of a stack trace.
 */
export function parseBenchArgs<O extends NonNullable<ParseArgsConfig['options']>>(
  moduleUrl: string,
  options: O,
): ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>>['values'] {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usageOf(moduleUrl)}\n`);
    process.exit(0);
  }
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\nRun with --help for the flags.\n`);
    process.exit(2);
  }
}

/** The leading `/** ... *\/` comment of the compiled module, without its comment markers. */
function usageOf(moduleUrl: string): string {
  const source = readFileSync(new URL(moduleUrl), 'utf8');
  const m = /\/\*\*([\s\S]*?)\*\//.exec(source);
  if (m === null) return '(no usage text)';
  return (m[1] ?? '')
    .split('\n')
    .map((l) => l.replace(/^\s*\* ?/, ''))
    .join('\n')
    .trim();
}
