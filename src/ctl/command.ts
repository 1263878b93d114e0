// The command tree (cobra's model, as etcdctl uses it): each command has flags, subcommands and
// a run function; global flags apply everywhere; a unique prefix of a command name selects it.

import type { ClientTlsOptions } from "../client/endpoint-pool.js";
import type { EtcdClient } from "../client/etcd-client.js";
import type { FlagSpec, FlagValue, ParsedFlags } from "./flag-parser.js";
import type { Output } from "./output.js";
import type { Printer } from "./printer.js";

export interface GlobalOptions {
  endpoints: string[];
  dialTimeoutMs: number;
  commandTimeoutMs: number;
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  hex: boolean;
  writeOut: string;
  /** Whether --command-timeout was given (snapshot save has no deadline otherwise). */
  commandTimeoutSet: boolean;
  /** --user / --password; without a password etcdctl asks for one. */
  user?: { name: string; password?: string };
  /** --cacert/--cert/--key/--insecure-*: TLS towards the endpoints; undefined for plain connections. */
  tls?: ClientTlsOptions;
}

export interface CommandContext {
  /** Positional arguments. */
  args: string[];
  flags: FlagReader;
  global: GlobalOptions;
  output: Output;
  env: NodeJS.ProcessEnv;
  /** Positional count before `--` (-1 without one), for watch/lock exec commands. */
  argsLenAtDash: number;
  /** A client for the global endpoints, or for `endpoints` when given; closed when the CLI exits. */
  client(endpoints?: readonly string[]): Promise<EtcdClient>;
  /** The printer for -w (created once; an unsupported format fails here, before any request). */
  printer(): Promise<Printer>;
  /** Resolves when SIGINT/SIGTERM arrives (long-running commands end on it). */
  readonly interrupted: Promise<void>;
  /** Standard input as bytes, read to the end. */
  readStdin(): Promise<Buffer>;
  /** Standard input line by line (null at end of input). */
  readLine(): Promise<string | null>;
}

export interface CommandSpec {
  name: string;
  /** Usage after the program name, e.g. "get [options] <key> [range_end]". */
  use: string;
  short: string;
  description?: string;
  flags?: FlagSpec[];
  /** Flags that the command's subcommands accept too (endpoint --cluster). */
  persistentFlags?: FlagSpec[];
  subcommands?: CommandSpec[];
  run?: (ctx: CommandContext) => Promise<void>;
}

export class FlagReader {
  constructor(private readonly parsed: ParsedFlags) {}

  private value(name: string): FlagValue {
    const value = this.parsed.values.get(name);
    if (value === undefined) throw new Error(`flag --${name} is not defined for this command`);
    return value;
  }

  bool(name: string): boolean {
    return this.value(name) as boolean;
  }

  string(name: string): string {
    return this.value(name) as string;
  }

  int(name: string): number {
    return this.value(name) as number;
  }

  durationMs(name: string): number {
    return this.value(name) as number;
  }

  strings(name: string): string[] {
    return this.value(name) as string[];
  }

  changed(name: string): boolean {
    return this.parsed.changed.has(name);
  }
}

/** The subcommand that `word` names: exact match first, else a unique prefix (cobra's prefix matching). */
export function findSubcommand(parent: CommandSpec, word: string): CommandSpec | undefined {
  const children = parent.subcommands ?? [];
  const exact = children.find((child) => child.name === word);
  if (exact !== undefined) return exact;
  const byPrefix = children.filter((child) => child.name.startsWith(word));
  return byPrefix.length === 1 ? byPrefix[0] : undefined;
}

/** Every flag a command accepts: its own, the persistent ones of its ancestors, the global ones. */
export function flagsFor(path: readonly CommandSpec[], globalFlags: readonly FlagSpec[]): FlagSpec[] {
  const last = path.at(-1);
  const inherited = path.flatMap((command) => command.persistentFlags ?? []);
  return [...(last?.flags ?? []), ...inherited, ...globalFlags, helpFlag(last?.name ?? "")];
}

export function helpFlag(commandName: string): FlagSpec {
  return { name: "help", short: "h", kind: "bool", defaultValue: false, usage: `help for ${commandName}` };
}

/**
 * Walks argv to the command it names (flags and their values are skipped, as cobra's Find does).
 * Returns the command path and argv with the command words removed.
 */
export function resolveCommand(
  root: CommandSpec,
  argv: readonly string[],
  globalFlags: readonly FlagSpec[],
): { path: CommandSpec[]; rest: string[]; unknown: string | undefined } {
  const path: CommandSpec[] = [root];
  const rest: string[] = [];
  let unknown: string | undefined;
  let descending = true;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      rest.push(arg);
      // A value-taking flag given as "--name value" or "-x value" consumes the next word.
      const known = flagsFor(path, globalFlags);
      const takesValue = (spec: FlagSpec | undefined): boolean => spec !== undefined && spec.kind !== "bool";
      if (arg.startsWith("--") && !arg.includes("=")) {
        if (takesValue(known.find((spec) => spec.name === arg.slice(2))) && i + 1 < argv.length) rest.push(argv[++i] as string);
      } else if (!arg.startsWith("--") && arg.length === 2) {
        if (takesValue(known.find((spec) => spec.short === arg[1])) && i + 1 < argv.length) rest.push(argv[++i] as string);
      }
      continue;
    }
    const current = path.at(-1) as CommandSpec;
    if (descending && (current.subcommands?.length ?? 0) > 0) {
      const next = findSubcommand(current, arg);
      if (next !== undefined) {
        path.push(next);
        continue;
      }
      if (current.run === undefined) unknown ??= arg;
    }
    descending = false;
    rest.push(arg);
  }
  return { path, rest, unknown };
}
