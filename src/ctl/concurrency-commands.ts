// `lock` and `elect` (lock_command.go, elect_command.go in etcdctl 3.4) on clientv3's recipes
// (concurrency.ts). Ctrl-C or SIGTERM releases the lock / resigns before exiting.

import { spawn } from "node:child_process";

import type { CommandContext, CommandSpec } from "./command.js";
import { Election, Mutex, observeElection, Session } from "./concurrency.js";
import { CtlError, ExitCode, fail } from "./exit-codes.js";

/** An AbortSignal that fires on SIGINT/SIGTERM. */
function interruptSignal(ctx: CommandContext): AbortSignal {
  const controller = new AbortController();
  void ctx.interrupted.then(() => controller.abort());
  return controller.signal;
}

function asCtlError(error: unknown): CtlError {
  if (error instanceof CtlError) return error;
  return new CtlError(ExitCode.error, error instanceof Error ? error.message : String(error));
}

function runCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(args[0] as string, args.slice(1), { stdio: ["inherit", "inherit", "inherit"], env });
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
}

export const lockCommand: CommandSpec = {
  name: "lock",
  use: "lock <lockname> [exec-command arg1 arg2 ...]",
  short: "Acquires a named lock",
  flags: [{ name: "ttl", kind: "int", defaultValue: 10, usage: "timeout for session" }],
  async run(ctx) {
    if (ctx.args.length === 0) fail(ExitCode.badArgs, "lock takes a lock name argument and an optional command to execute");
    const printer = await ctx.printer();
    const client = await ctx.client();
    const signal = interruptSignal(ctx);
    try {
      const session = await Session.create(client, ctx.flags.int("ttl"));
      const mutex = new Mutex(session, ctx.args[0] as string);
      await mutex.lock(signal);
      const command = ctx.args.slice(1);
      if (command.length > 0) {
        const env = { ...process.env, ETCD_LOCK_KEY: mutex.key, ETCD_LOCK_REV: mutex.header?.revision ?? "0" };
        const code = await runCommand(command, env);
        await mutex.unlock();
        if (code !== 0) throw new CtlError(ExitCode.error, `exit status ${code}`);
        return;
      }
      const held = await client.range({ key: Buffer.from(mutex.key) });
      if (held.kvs.length === 0) throw new CtlError(ExitCode.error, "lock lost on init");
      printer.get(held);
      const outcome = await Promise.race([ctx.interrupted.then(() => "interrupted" as const), session.done.then(() => "expired" as const)]);
      if (outcome === "interrupted") {
        await mutex.unlock();
        return;
      }
      throw new CtlError(ExitCode.error, "session expired");
    } catch (error) {
      if (signal.aborted && !(error instanceof CtlError)) throw new CtlError(ExitCode.error, "context canceled");
      throw asCtlError(error);
    }
  },
};

export const electCommand: CommandSpec = {
  name: "elect",
  use: "elect <election-name> [proposal]",
  short: "Observes and participates in leader election",
  flags: [{ name: "listen", short: "l", kind: "bool", defaultValue: false, usage: "observation mode" }],
  async run(ctx) {
    if (ctx.args.length !== 1 && ctx.args.length !== 2) {
      fail(ExitCode.badArgs, "elect takes one election name argument and an optional proposal argument");
    }
    const listen = ctx.flags.bool("listen");
    if (ctx.args.length === 1 && !listen) fail(ExitCode.badArgs, "no proposal argument but -l not set");
    if (ctx.args.length === 2 && listen) fail(ExitCode.badArgs, "proposal given but -l is set");
    const printer = await ctx.printer();
    const client = await ctx.client();
    const signal = interruptSignal(ctx);
    const name = ctx.args[0] as string;
    try {
      const session = await Session.create(client);
      if (listen) {
        await observeElection(client, name, (header, kv) => printer.get({ header, kvs: [kv], more: false, count: "1" }), signal);
        if (!signal.aborted) throw new CtlError(ExitCode.error, "elect: observer lost");
        return;
      }
      const election = new Election(session, name);
      await election.campaign(ctx.args[1] as string, signal);
      printer.get(await client.range({ key: Buffer.from(election.key) }, { signal }));
      const outcome = await Promise.race([ctx.interrupted.then(() => "interrupted" as const), session.done.then(() => "expired" as const)]);
      if (outcome === "expired") throw new CtlError(ExitCode.error, "elect: session expired");
      await election.resign();
    } catch (error) {
      if (signal.aborted && listen) return;
      if (signal.aborted && !(error instanceof CtlError)) throw new CtlError(ExitCode.error, "context canceled");
      throw asCtlError(error);
    }
  },
};
