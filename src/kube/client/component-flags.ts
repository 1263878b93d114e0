// Command-line parsing shared by ketch-scheduler, ketch-controller-manager and ketch-kubelet:
// kube components' flag syntax (--name=value or --name value; booleans as --flag, --flag=true,
// --flag=false), Go durations ("15s", "1m30s"), and where the apiservers are (--master
// URL[,URL...] or --kubeconfig FILE).

import { loadKubeconfig, type ApiCredentials } from './kubeconfig.js';

export class FlagError extends Error {}

export interface FlagSpec {
  kind: 'string' | 'bool' | 'int' | 'duration';
  def: string;
  help: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

/** Flags every component takes. */
export const COMMON_FLAGS: FlagSpecs = {
  master: { kind: 'string', def: '', help: 'Apiserver URL(s), comma separated; requests fail over between them (overrides the kubeconfig server).' },
  kubeconfig: { kind: 'string', def: '', help: 'Path to a kubeconfig file naming the apiserver and the credentials (client certificate or token, CA).' },
  'log-level': { kind: 'string', def: 'info', help: 'Log level: trace, debug, info, warn, error, fatal.' },
};

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, in milliseconds. */
export function parseDurationMs(text: string): number {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (m === null) throw new FlagError(`time: invalid duration ${JSON.stringify(text)}`);
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    pos = re.lastIndex;
  }
  if (text === '') throw new FlagError('time: invalid duration ""');
  return total;
}

export interface ParsedFlags {
  values: Map<string, string>;
  /** Flags given explicitly (not defaulted). */
  given: Set<string>;
}

export function parseArgs(argv: readonly string[], specs: FlagSpecs): ParsedFlags | 'help' {
  const values = new Map<string, string>();
  const given = new Set<string>();
  for (const [name, spec] of Object.entries(specs)) values.set(name, spec.def);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') return 'help';
    if (!arg.startsWith('-')) throw new FlagError(`unexpected argument ${JSON.stringify(arg)}`);
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const spec = specs[name];
    if (spec === undefined) throw new FlagError(`unknown flag: --${name}`);
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (spec.kind === 'bool') value = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new FlagError(`flag needs an argument: --${name}`);
      value = next;
      i++;
    }
    checkValue(name, spec, value);
    values.set(name, value);
    given.add(name);
  }
  return { values, given };
}

function checkValue(name: string, spec: FlagSpec, value: string): void {
  switch (spec.kind) {
    case 'bool':
      if (value !== 'true' && value !== 'false') throw new FlagError(`invalid argument ${JSON.stringify(value)} for --${name}: expected true or false`);
      break;
    case 'int':
      if (!/^-?\d+$/.test(value)) throw new FlagError(`invalid argument ${JSON.stringify(value)} for --${name}: expected an integer`);
      break;
    case 'duration':
      try {
        parseDurationMs(value);
      } catch (err) {
        throw new FlagError(`invalid argument ${JSON.stringify(value)} for --${name}: ${(err as Error).message}`);
      }
      break;
    default:
      break;
  }
}

export function flagString(f: ParsedFlags, name: string): string {
  return f.values.get(name) ?? '';
}

export function flagBool(f: ParsedFlags, name: string): boolean {
  return f.values.get(name) === 'true';
}

export function flagInt(f: ParsedFlags, name: string): number {
  return Number(f.values.get(name));
}

export function flagDurationMs(f: ParsedFlags, name: string): number {
  return parseDurationMs(f.values.get(name) ?? '0');
}

/** The apiserver URLs from --master (preferred) or --kubeconfig; one is required. */
export function resolveMasters(f: ParsedFlags): string[] {
  return resolveConnection(f).masters;
}

/**
 * Where the apiservers are and how to authenticate: --master URLs override the kubeconfig's
 * server (so several apiservers can be named), while the kubeconfig, when given, still supplies
 * the CA and the client certificate or token.
 */
export function resolveConnection(f: ParsedFlags): { masters: string[]; credentials: ApiCredentials } {
  const master = flagString(f, 'master')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const m of master) {
    let url: URL;
    try {
      url = new URL(m);
    } catch {
      throw new FlagError(`--master: "${m}" is not a URL (e.g. http://127.0.0.1:8080)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FlagError(`--master: ${m}: expected an http:// or https:// URL`);
  }
  const kubeconfig = flagString(f, 'kubeconfig');
  if (kubeconfig === '') {
    if (master.length === 0) throw new FlagError('no apiserver: give --master URL[,URL...] or --kubeconfig FILE');
    return { masters: master, credentials: {} };
  }
  try {
    const target = loadKubeconfig(kubeconfig);
    return { masters: master.length > 0 ? master : [target.server], credentials: target.credentials };
  } catch (err) {
    throw new FlagError((err as Error).message);
  }
}

export function usageText(program: string, summary: string, specs: FlagSpecs): string {
  const lines = [`usage: ${program} [flags]`, '', summary, ''];
  for (const [name, spec] of Object.entries(specs)) {
    lines.push(`  --${name}${spec.def !== '' ? ` (default ${JSON.stringify(spec.def)})` : ''}`, `      ${spec.help}`);
  }
  lines.push('  --help', '      Show this help.');
  return `${lines.join('\n')}\n`;
}
