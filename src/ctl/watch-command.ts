// `watch` (watch_command.go in etcdctl 3.4): prints events as they come; with `-- cmd args`
// runs a command per event; -i reads `watch ...` and `progress` lines from stdin. The watch
// requires a leader and resumes on another endpoint after a broken connection, as clientv3's does.

import { spawn } from "node:child_process";

import type { EtcdClient } from "../client/etcd-client.js";
import type { KeyWatcher } from "../client/watch-key.js";
import type { WatchResponse } from "../client/messages.js";
import { type CommandContext, type CommandSpec, FlagReader } from "./command.js";
import { CtlError, ExitCode, fail } from "./exit-codes.js";
import { FlagError, parseFlags, type FlagSpec } from "./flag-parser.js";
import { goQuote } from "./go-format.js";
import type { Printer } from "./printer.js";
import { bytesOf, prefixRangeEnd } from "./rpc.js";
import { argify } from "./txn-command.js";

const watchFlags: FlagSpec[] = [
  { name: "interactive", short: "i", kind: "bool", defaultValue: false, usage: "Interactive mode" },
  { name: "prefix", kind: "bool", defaultValue: false, usage: "Watch on a prefix if prefix is set" },
  { name: "rev", kind: "int", defaultValue: 0, usage: "Revision to start watching" },
  { name: "prev-kv", kind: "bool", defaultValue: false, usage: "get the previous key-value pair before the event happens" },
];

interface WatchSpec {
  key: Buffer;
  rangeEnd: Buffer | undefined;
  rev: number;
  prevKv: boolean;
}

function watchSpec(args: readonly string[], flags: FlagReader): WatchSpec {
  if (args.length < 1) fail(ExitCode.badArgs, "bad number of arguments");
  const key = bytesOf(args[0] as string);
  let rangeEnd: Buffer | undefined;
  if (args.length === 2) {
    if (flags.bool("prefix")) fail(ExitCode.badArgs, "`range_end` and `--prefix` are mutually exclusive");
    rangeEnd = bytesOf(args[1] as string);
  }
  if (flags.bool("prefix")) rangeEnd = key.length === 0 ? Buffer.from([0]) : prefixRangeEnd(key);
  return { key, rangeEnd, rev: flags.int("rev"), prevKv: flags.bool("prev-kv") };
}

/** Starts a watch that prints what it receives; `done` resolves once it has ended and printed all. */
function runWatch(
  client: EtcdClient,
  spec: WatchSpec,
  printer: Printer,
  ctx: CommandContext,
  execArgs: string[],
): { done: Promise<void>; watcher: KeyWatcher } {
  let queue = Promise.resolve();
  const deliver = (response: WatchResponse): void => {
    queue = queue.then(async () => {
      if (response.canceled) ctx.output.err(`watch was canceled (${cancelReason(response)})\n`);
      const isProgress = response.events.length === 0 && !response.canceled && !response.created && response.compact_revision === "0";
      if (isProgress && response.header.revision !== "0") ctx.output.out(`progress notify: ${response.header.revision}\n`);
      printer.watch(response);
      for (const event of execArgs.length > 0 ? response.events : []) {
        await runForEvent(execArgs, response, event.type, event.kv?.key ?? Buffer.alloc(0), event.kv?.value ?? Buffer.alloc(0));
      }
    });
  };
  const watcher = client.watchKey(spec.key, spec.rev, (_events, response) => deliver(response), {
    ...(spec.rangeEnd === undefined ? {} : { rangeEnd: spec.rangeEnd }),
    prevKv: spec.prevKv,
    resumeOnNoLeader: false,
    onProgress: (_revision, response) => deliver(response),
    onCanceled: deliver,
  });
  const done = watcher.closed.then(async (error) => {
    // A stream cut (e.g. "no leader") reaches etcdctl's loop as a canceled response too.
    if (error !== undefined && !/compacted|canceled by the server/.test(error.message) && error.message !== "") {
      deliver({
        header: { cluster_id: "0", member_id: "0", revision: "0", raft_term: "0" },
        watch_id: "0",
        created: false,
        canceled: true,
        compact_revision: "0",
        cancel_reason: error.message,
        fragment: false,
        events: [],
      });
    }
    await queue;
  });
  return { done, watcher };
}

function cancelReason(response: WatchResponse): string {
  if (response.compact_revision !== "0") return "etcdserver: mvcc: required revision has been compacted";
  return response.cancel_reason === "" ? "<nil>" : response.cancel_reason;
}

function runForEvent(execArgs: string[], response: WatchResponse, type: string, key: Buffer, value: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(execArgs[0] as string, execArgs.slice(1), {
      stdio: ["ignore", "inherit", "inherit"],
      env: {
        ...process.env,
        ETCD_WATCH_REVISION: response.header.revision,
        ETCD_WATCH_EVENT_TYPE: goQuote(type),
        ETCD_WATCH_KEY: goQuote(key),
        ETCD_WATCH_VALUE: goQuote(value),
      },
    });
    child.once("error", (error) => {
      process.stderr.write(`command ${JSON.stringify(execArgs)} error (${error.message})\n`);
      process.exit(1);
    });
    child.once("exit", (code) => {
      if (code !== 0) {
        process.stderr.write(`command [${execArgs.join(" ")}] error (exit status ${code ?? 1})\n`);
        process.exit(1);
      }
      resolve();
    });
  });
}

/** Splits positional arguments at `--` into watch arguments and the command to run per event. */
function splitExec(ctx: CommandContext): { watchArgs: string[]; execArgs: string[] } {
  const dash = ctx.argsLenAtDash;
  let watchArgs = dash === -1 ? [...ctx.args] : ctx.args.slice(0, dash);
  const execArgs = dash === -1 ? [] : ctx.args.slice(dash);
  if (dash !== -1 && execArgs.length === 0) fail(ExitCode.badArgs, "bad number of arguments (found separator --, but no commands)");
  const envKey = ctx.env.ETCDCTL_WATCH_KEY ?? "";
  const envRange = ctx.env.ETCDCTL_WATCH_RANGE_END ?? "";
  if (envKey === "" && envRange !== "") fail(ExitCode.badArgs, `ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=${JSON.stringify(envRange)}`);
  if (envKey !== "") {
    if (watchArgs.length > 0) fail(ExitCode.badArgs, "bad number of arguments (found conflicting environment key)");
    watchArgs = envRange === "" ? [envKey] : [envKey, envRange];
  }
  if (watchArgs.length === 0) fail(ExitCode.badArgs, "bad number of arguments");
  return { watchArgs, execArgs };
}

async function interactive(ctx: CommandContext, printer: Printer): Promise<void> {
  const client = await ctx.client();
  const watchers: KeyWatcher[] = [];
  for (;;) {
    const raw = await ctx.readLine();
    if (raw === null || !raw.endsWith("\n")) {
      throw new CtlError(ExitCode.invalidInput, "Error reading watch request line: EOF");
    }
    const line = raw.replace(/\n$/, "");
    const args = argify(line);
    if (args.length < 1) {
      ctx.output.err(`Invalid command: ${line} (watch and progress supported)\n`);
      continue;
    }
    if (args[0] === "watch") {
      if (args.length < 2 && (ctx.env.ETCDCTL_WATCH_KEY ?? "") === "") {
        ctx.output.err(`Invalid command ${line} (command type or key is not provided)\n`);
        continue;
      }
      let spec: WatchSpec;
      let execArgs: string[] = [];
      try {
        const parsed = parseFlags(args.slice(1), watchFlags);
        const dash = parsed.argsLenAtDash;
        const watchArgs = dash === -1 ? parsed.positionals : parsed.positionals.slice(0, dash);
        execArgs = dash === -1 ? [] : parsed.positionals.slice(dash);
        spec = watchSpec(watchArgs.length > 0 ? watchArgs : [ctx.env.ETCDCTL_WATCH_KEY ?? ""], new FlagReader(parsed));
      } catch (error) {
        const reason = error instanceof FlagError || error instanceof CtlError ? error.message : String(error);
        ctx.output.err(`Invalid command ${line} (${reason})\n`);
        continue;
      }
      watchers.push(runWatch(client, spec, printer, ctx, execArgs).watcher);
    } else if (args[0] === "progress") {
      // As clientv3's RequestProgress: on every open watch stream.
      for (const watcher of watchers) watcher.requestProgress();
    } else {
      ctx.output.err(`Invalid command ${line} (only support watch)\n`);
    }
  }
}

export const watchCommand: CommandSpec = {
  name: "watch",
  use: "watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]",
  short: "Watches events stream on keys or prefixes",
  flags: watchFlags,
  async run(ctx) {
    const printer = await ctx.printer();
    if (ctx.flags.bool("interactive")) {
      await interactive(ctx, printer);
      return;
    }
    const { watchArgs, execArgs } = splitExec(ctx);
    const spec = watchSpec(watchArgs, ctx.flags);
    const client = await ctx.client();
    await runWatch(client, spec, printer, ctx, execArgs).done;
    fail(ExitCode.interrupted, "watch is canceled by the server");
  },
};
