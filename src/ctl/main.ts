// ketchctl's entry: resolves the command, parses flags (etcdctl's names, defaults and
// ETCDCTL_* variables), runs it, and turns every failure into `Error: ...` and etcdctl's exit code.

import type { Readable } from "node:stream";

import type { EtcdClient } from "../client/etcd-client.js";
import { rootCommand } from "./commands.js";
import { type CommandContext, type CommandSpec, FlagReader, flagsFor, resolveCommand } from "./command.js";
import { CtlError, CtlExit, ExitCode } from "./exit-codes.js";
import { FlagError, parseFlags } from "./flag-parser.js";
import { applyEnvironment, globalFlags, globalOptions } from "./global-flags.js";
import { programName, renderHelp } from "./help.js";
import type { Output } from "./output.js";
import { makePrinter, type Printer } from "./printer.js";
import { StdinReader } from "./stdin-reader.js";

export interface CtlIo {
  output: Output;
  stdin: Readable;
  env: NodeJS.ProcessEnv;
}

/** Go's log timestamp for pkg/flags warnings ("2006-01-02 15:04:05.000000"). */
function logTimestamp(): string {
  const d = new Date();
  const pad = (n: number, w = 2): string => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds() * 1000, 6)}`;
}

/** Runs one ketchctl invocation; resolves with the exit code once the command has finished. */
export async function runCtl(argv: readonly string[], io: CtlIo): Promise<number> {
  const { output, env } = io;
  const clients: EtcdClient[] = [];
  try {
    return await runCommand(argv, io, clients);
  } catch (error) {
    if (error instanceof CtlExit) return error.code;
    if (error instanceof CtlError) {
      output.err(`Error: ${error.message}\n`);
      return error.code;
    }
    // A client error that a command did not map: etcdctl's ExitError with the message.
    const message = error instanceof Error ? error.message : String(error);
    output.err(`Error: ${message}\n`);
    if (env.KETCHCTL_DEBUG === "1" && error instanceof Error) output.err(`${error.stack ?? ""}\n`);
    return ExitCode.error;
  } finally {
    for (const client of clients) client.close();
  }
}

async function runCommand(argv: readonly string[], io: CtlIo, clients: EtcdClient[]): Promise<number> {
  const { output, env } = io;
  const api = env.ETCDCTL_API;
  if (api !== undefined && api !== "" && api !== "3") {
    throw new CtlError(ExitCode.badFeature, `ETCDCTL_API=${api}: ${programName} speaks only the v3 API (unset it or set it to 3)`);
  }
  const root = rootCommand();
  const { path, rest, unknown } = resolveCommand(root, argv, globalFlags);

  // `help [command...]`: help for the named command.
  if (path.length === 2 && path[1]?.name === "help") {
    const target = resolveCommand(root, rest.filter((arg) => !arg.startsWith("-")), globalFlags);
    output.out(renderHelp(target.path, globalFlags));
    return ExitCode.success;
  }
  const command = path.at(-1) as CommandSpec;
  if (unknown !== undefined && path.length === 1) {
    const message = `unknown command ${JSON.stringify(unknown)} for ${JSON.stringify(programName)}`;
    output.err(`Error: ${message}\nRun '${programName} --help' for usage.\nError: ${message}\n`);
    return ExitCode.error;
  }

  let parsed;
  try {
    parsed = parseFlags(rest, flagsFor(path, globalFlags));
  } catch (error) {
    if (!(error instanceof FlagError)) throw error;
    output.err(`Error: ${error.message}\n`);
    output.out(renderHelp(path, globalFlags));
    output.err(`\nError: ${error.message}\n`);
    return ExitCode.error;
  }
  // A command group (lease, member...) prints its help, also for an unknown subcommand, as etcdctl.
  if (parsed.values.get("help") === true || command.run === undefined) {
    output.out(renderHelp(path, globalFlags));
    return ExitCode.success;
  }

  for (const warning of applyEnvironment(parsed, env)) output.err(`${logTimestamp()} W | ${warning}\n`);
  const global = globalOptions(parsed);

  const stdin = new StdinReader(io.stdin);
  let printer: Printer | undefined;
  let interrupted: Promise<void> | undefined;
  const context: CommandContext = {
    args: parsed.positionals,
    flags: new FlagReader(parsed),
    global,
    output,
    env,
    argsLenAtDash: parsed.argsLenAtDash,
    async client(endpoints?: readonly string[]): Promise<EtcdClient> {
      const { EtcdClient } = await import("../client/etcd-client.js");
      const client = new EtcdClient({
        endpoints: endpoints ?? global.endpoints,
        dialTimeoutMs: global.dialTimeoutMs,
        requestTimeoutMs: global.commandTimeoutMs,
        // etcd refuses pings more often than every 5 s (its keepalive enforcement policy).
        keepaliveTimeMs: Math.max(5000, global.keepaliveTimeMs),
        keepaliveTimeoutMs: global.keepaliveTimeoutMs,
        ...(global.user === undefined ? {} : { user: { name: global.user.name, password: global.user.password ?? (await askPassword(stdin)) } }),
        ...(global.tls !== undefined ? { tls: global.tls } : {}),
      });
      clients.push(client);
      // As clientv3.New: a user's token is fetched when the client is made, and a refusal ends the command.
      if (global.user !== undefined) {
        try {
          await client.authenticate();
        } catch (error) {
          throw new CtlError(ExitCode.badConnection, (error as Error).message);
        }
      }
      return client;
    },
    async printer(): Promise<Printer> {
      printer ??= await makePrinter(global.writeOut, global.hex, output);
      return printer;
    },
    get interrupted(): Promise<void> {
      interrupted ??= new Promise((resolve) => {
        process.once("SIGINT", () => resolve());
        process.once("SIGTERM", () => resolve());
      });
      return interrupted;
    },
    readStdin: () => stdin.readAll(),
    readLine: () => stdin.readLine(),
  };
  await command.run(context);
  return ExitCode.success;
}

/** --user without a password: etcdctl prompts "Password: "; read it as one line of standard input. */
async function askPassword(stdin: StdinReader): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write("Password: ");
  const line = await stdin.readLine();
  if (line === null) throw new CtlError(ExitCode.badArgs, "password not given: use --user name:password or --password");
  return line;
}
