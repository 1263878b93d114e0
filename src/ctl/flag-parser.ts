// A small parser with spf13/pflag's behaviour and error texts, which etcdctl's users see:
// flags anywhere among the arguments, `--name=value` / `--name value` / `-x value` / `-xvalue`,
// bool flags without a value, `--` ending the flags, comma-separated string slices.

import { parseGoDurationMs } from "./go-duration.js";

export type FlagKind = "bool" | "string" | "int" | "duration" | "strings";

export interface FlagSpec {
  name: string;
  short?: string;
  kind: FlagKind;
  /** The default as pflag would print it in help (`"l"`, `0`, `2s`, `[127.0.0.1:2379]`). */
  defaultValue: boolean | string | number | readonly string[];
  usage: string;
}

export type FlagValue = boolean | string | number | string[];

export interface ParsedFlags {
  values: Map<string, FlagValue>;
  /** Names of flags given on the command line (pflag's Changed). */
  changed: Set<string>;
  positionals: string[];
  /** How many positionals came before `--`, or -1 when there was none (cobra's ArgsLenAtDash). */
  argsLenAtDash: number;
}

export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FlagError";
  }
}

/** Go's strconv.ParseBool. */
export function parseGoBool(text: string): boolean {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(text)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(text)) return false;
  throw new Error(`strconv.ParseBool: parsing ${JSON.stringify(text)}: invalid syntax`);
}

/** Go's strconv.ParseInt(text, 0, 64) as pflag's int64 flags use it (0x.., 0o.., 0b.. allowed). */
export function parseGoInt(text: string, fn = "ParseInt"): number {
  const match = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[oO]?[0-7_]+|0[bB][01_]+|[0-9_]+)$/.exec(text);
  if (match === null) throw new Error(`strconv.${fn}: parsing ${JSON.stringify(text)}: invalid syntax`);
  const body = (match[2] as string).replace(/_/g, "");
  let value: bigint;
  if (/^0[oO]/.test(body)) value = BigInt(`0o${body.slice(2)}`);
  else if (/^0[0-7]+$/.test(body)) value = BigInt(`0o${body.slice(1)}`);
  else value = BigInt(body);
  if (match[1] === "-") value = -value;
  if (value > 9223372036854775807n || value < -9223372036854775808n) {
    throw new Error(`strconv.${fn}: parsing ${JSON.stringify(text)}: value out of range`);
  }
  return Number(value);
}

function setValue(spec: FlagSpec, text: string, parsed: ParsedFlags, display: string): void {
  try {
    let value: FlagValue;
    switch (spec.kind) {
      case "bool":
        value = parseGoBool(text);
        break;
      case "string":
        value = text;
        break;
      case "int":
        value = parseGoInt(text);
        break;
      case "duration":
        value = parseGoDurationMs(text);
        break;
      case "strings": {
        const items = text === "" ? [] : text.split(",").map((item) => item.trim());
        const previous = parsed.changed.has(spec.name) ? (parsed.values.get(spec.name) as string[]) : [];
        value = [...previous, ...items];
        break;
      }
    }
    parsed.values.set(spec.name, value);
    parsed.changed.add(spec.name);
  } catch (error) {
    throw new FlagError(`invalid argument ${JSON.stringify(text)} for "${display}" flag: ${(error as Error).message}`);
  }
}

/** The flag's default as a runtime value. */
export function defaultOf(spec: FlagSpec): FlagValue {
  const value = spec.defaultValue;
  if (Array.isArray(value)) return [...(value as string[])];
  if (spec.kind === "duration" && typeof value === "string") return parseGoDurationMs(value);
  return value as FlagValue;
}

/** Parses `argv` against `specs` (every flag that applies: the command's and the global ones). */
export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[]): ParsedFlags {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const byShort = new Map(specs.filter((spec) => spec.short !== undefined).map((spec) => [spec.short as string, spec]));
  const parsed: ParsedFlags = { values: new Map(), changed: new Set(), positionals: [], argsLenAtDash: -1 };
  for (const spec of specs) parsed.values.set(spec.name, defaultOf(spec));

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      parsed.argsLenAtDash = parsed.positionals.length;
      parsed.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const spec = byName.get(name);
      if (spec === undefined || name === "") throw new FlagError(`unknown flag: --${name}`);
      const display = spec.short === undefined ? `--${spec.name}` : `-${spec.short}, --${spec.name}`;
      if (eq !== -1) setValue(spec, arg.slice(eq + 1), parsed, display);
      else if (spec.kind === "bool") setValue(spec, "true", parsed, display);
      else if (i + 1 < argv.length) setValue(spec, argv[++i] as string, parsed, display);
      else throw new FlagError(`flag needs an argument: --${name}`);
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      // Shorthands: -i, -w json, -wjson, -w=json, or several bools together (-ih).
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j] as string;
        const spec = byShort.get(letter);
        if (spec === undefined) throw new FlagError(`unknown shorthand flag: '${letter}' in ${arg}`);
        const display = `-${letter}, --${spec.name}`;
        const rest = arg.slice(j + 1);
        if (spec.kind === "bool") {
          if (rest.startsWith("=")) {
            setValue(spec, rest.slice(1), parsed, display);
            break;
          }
          setValue(spec, "true", parsed, display);
          continue;
        }
        if (rest !== "") setValue(spec, rest.startsWith("=") ? rest.slice(1) : rest, parsed, display);
        else if (i + 1 < argv.length) setValue(spec, argv[++i] as string, parsed, display);
        else throw new FlagError(`flag needs an argument: '${letter}' in -${letter}`);
        break;
      }
      continue;
    }
    parsed.positionals.push(arg);
  }
  return parsed;
}
