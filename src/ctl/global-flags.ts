// etcdctl 3.4's global flags, their ETCDCTL_* environment variables, and the options they give.

import { CtlError, ExitCode } from "./exit-codes.js";
import { defaultOf, type FlagSpec, type FlagValue, type ParsedFlags, parseGoBool, parseGoInt } from "./flag-parser.js";
import type { GlobalOptions } from "./command.js";
import { parseGoDurationMs } from "./go-duration.js";
import { tlsOptions } from "./tls-flags.js";

export const globalFlags: FlagSpec[] = [
  { name: "cacert", kind: "string", defaultValue: "", usage: "verify certificates of TLS-enabled secure servers using this CA bundle" },
  { name: "cert", kind: "string", defaultValue: "", usage: "identify secure client using this TLS certificate file" },
  { name: "command-timeout", kind: "duration", defaultValue: "5s", usage: "timeout for short running command (excluding dial timeout)" },
  { name: "debug", kind: "bool", defaultValue: false, usage: "enable client-side debug logging" },
  { name: "dial-timeout", kind: "duration", defaultValue: "2s", usage: "dial timeout for client connections" },
  { name: "discovery-srv", short: "d", kind: "string", defaultValue: "", usage: "domain name to query for SRV records describing cluster endpoints" },
  { name: "discovery-srv-name", kind: "string", defaultValue: "", usage: "service name to query when using DNS discovery" },
  { name: "endpoints", kind: "strings", defaultValue: ["127.0.0.1:2379"], usage: "gRPC endpoints" },
  { name: "hex", kind: "bool", defaultValue: false, usage: "print byte strings as hex encoded strings" },
  { name: "insecure-discovery", kind: "bool", defaultValue: true, usage: "accept insecure SRV records describing cluster endpoints" },
  {
    name: "insecure-skip-tls-verify",
    kind: "bool",
    defaultValue: false,
    usage: "skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)",
  },
  { name: "insecure-transport", kind: "bool", defaultValue: true, usage: "disable transport security for client connections" },
  { name: "keepalive-time", kind: "duration", defaultValue: "2s", usage: "keepalive time for client connections" },
  { name: "keepalive-timeout", kind: "duration", defaultValue: "6s", usage: "keepalive timeout for client connections" },
  { name: "key", kind: "string", defaultValue: "", usage: "identify secure client using this TLS key file" },
  {
    name: "password",
    kind: "string",
    defaultValue: "",
    usage: "password for authentication (if this option is used, --user option shouldn't include password)",
  },
  { name: "user", kind: "string", defaultValue: "", usage: "username[:password] for authentication (prompt if password is not supplied)" },
  {
    name: "write-out",
    short: "w",
    kind: "string",
    defaultValue: "simple",
    usage: "set the output format (fields, json, protobuf, simple, table)",
  },
];

/** Variables etcdctl reads that are not flags (so they draw no "unrecognized" warning). */
const nonFlagVariables = new Set(["ETCDCTL_API", "ETCDCTL_WATCH_KEY", "ETCDCTL_WATCH_RANGE_END"]);

function envName(flag: string): string {
  return `ETCDCTL_${flag.toUpperCase().replace(/-/g, "_")}`;
}

function parseEnvValue(spec: FlagSpec, text: string): FlagValue {
  switch (spec.kind) {
    case "bool":
      return parseGoBool(text);
    case "string":
      return text;
    case "int":
      return parseGoInt(text);
    case "duration":
      return parseGoDurationMs(text);
    case "strings":
      return text.split(",").map((item) => item.trim());
  }
}

/**
 * Applies ETCDCTL_<FLAG> variables to global flags not given on the command line, as etcdctl's
 * pkg/flags does: a variable that a flag shadows is fatal, an unknown ETCDCTL_* one draws a
 * warning, a value that does not parse is ignored. Returns the warnings for stderr.
 */
export function applyEnvironment(parsed: ParsedFlags, env: NodeJS.ProcessEnv): string[] {
  const warnings: string[] = [];
  const known = new Set(globalFlags.map((spec) => envName(spec.name)));
  for (const spec of globalFlags) {
    const text = env[envName(spec.name)];
    if (text === undefined || text === "") continue;
    if (parsed.changed.has(spec.name)) {
      throw new CtlError(
        ExitCode.error,
        `conflicting environment variable "${envName(spec.name)}" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)`,
      );
    }
    try {
      parsed.values.set(spec.name, parseEnvValue(spec, text));
      parsed.changed.add(spec.name);
    } catch {
      // etcdctl drops an unparsable value silently and keeps the default.
    }
  }
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith("ETCDCTL_") && !known.has(name) && !nonFlagVariables.has(name)) {
      warnings.push(`pkg/flags: unrecognized environment variable ${name}=${value ?? ""}`);
    }
  }
  return warnings;
}

/** Options the commands use; flags ketchctl cannot honour (DNS discovery) are refused. */
export function globalOptions(parsed: ParsedFlags): GlobalOptions {
  const get = (name: string): FlagValue => parsed.values.get(name) ?? defaultOf(globalFlags.find((spec) => spec.name === name) as FlagSpec);
  for (const name of ["discovery-srv", "discovery-srv-name"]) {
    if (get(name) !== "") throw new CtlError(ExitCode.badFeature, `--${name} is not supported by ketchctl (no DNS discovery yet)`);
  }
  const tls = tlsOptions({
    cacert: get("cacert") as string,
    cert: get("cert") as string,
    key: get("key") as string,
    insecureSkipTlsVerify: get("insecure-skip-tls-verify") as boolean,
    insecureTransport: get("insecure-transport") as boolean,
    changed: parsed.changed,
  });
  const endpoints = (get("endpoints") as string[]).filter((endpoint) => endpoint !== "");
  return {
    endpoints,
    dialTimeoutMs: get("dial-timeout") as number,
    commandTimeoutMs: get("command-timeout") as number,
    keepaliveTimeMs: get("keepalive-time") as number,
    keepaliveTimeoutMs: get("keepalive-timeout") as number,
    hex: get("hex") as boolean,
    writeOut: get("write-out") as string,
    commandTimeoutSet: parsed.changed.has("command-timeout"),
    ...userOption(get("user") as string, get("password") as string),
    ...(tls !== undefined ? { tls } : {}),
  };
}

/** etcdctl's --user name[:password] and --password (which makes --user the whole name). */
function userOption(user: string, password: string): { user?: { name: string; password?: string } } {
  if (user === "") return {};
  if (password !== "") return { user: { name: user, password } };
  const colon = user.indexOf(":");
  return colon < 0 ? { user: { name: user } } : { user: { name: user.slice(0, colon), password: user.slice(colon + 1) } };
}
