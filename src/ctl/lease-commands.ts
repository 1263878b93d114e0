// lease grant / revoke / timetolive / list / keep-alive (lease_command.go in etcdctl 3.4).

import type { CommandSpec } from "./command.js";
import { ExitCode, fail } from "./exit-codes.js";
import { leaseHex } from "./go-format.js";
import { SimplePrinter } from "./printer-simple.js";
import { parseDecInt64, parseHexInt64, rpc } from "./rpc.js";

function leaseFromArg(arg: string): string {
  try {
    return parseHexInt64(arg);
  } catch (error) {
    fail(ExitCode.badArgs, `bad lease ID arg (${(error as Error).message}), expecting ID in Hex`);
  }
}

const grantCommand: CommandSpec = {
  name: "grant",
  use: "grant <ttl>",
  short: "Creates leases",
  async run(ctx) {
    if (ctx.args.length !== 1) fail(ExitCode.badArgs, "lease grant command needs TTL argument");
    let ttl: string;
    try {
      ttl = parseDecInt64(ctx.args[0] as string);
    } catch (error) {
      fail(ExitCode.badArgs, `bad TTL (${(error as Error).message})`);
    }
    const printer = await ctx.printer();
    const client = await ctx.client();
    printer.grant(await rpc(client.leaseGrant({ TTL: ttl }), ExitCode.error, (m) => `failed to grant lease (${m})`));
  },
};

const revokeCommand: CommandSpec = {
  name: "revoke",
  use: "revoke <leaseID>",
  short: "Revokes leases",
  async run(ctx) {
    if (ctx.args.length !== 1) fail(ExitCode.badArgs, "lease revoke command needs 1 argument");
    const id = leaseFromArg(ctx.args[0] as string);
    const printer = await ctx.printer();
    const client = await ctx.client();
    printer.revoke(id, await rpc(client.leaseRevoke(id), ExitCode.error, (m) => `failed to revoke lease (${m})`));
  },
};

const timeToLiveCommand: CommandSpec = {
  name: "timetolive",
  use: "timetolive <leaseID> [options]",
  short: "Get lease information",
  flags: [{ name: "keys", kind: "bool", defaultValue: false, usage: "Get keys attached to this lease" }],
  async run(ctx) {
    if (ctx.args.length !== 1) fail(ExitCode.badArgs, "lease timetolive command needs lease ID as argument");
    const id = leaseFromArg(ctx.args[0] as string);
    const keys = ctx.flags.bool("keys");
    const printer = await ctx.printer();
    const client = await ctx.client();
    printer.timeToLive(await rpc(client.leaseTimeToLive(id, keys), ExitCode.badConnection), keys);
  },
};

const listCommand: CommandSpec = {
  name: "list",
  use: "list",
  short: "List all active leases",
  async run(ctx) {
    const printer = await ctx.printer();
    const client = await ctx.client();
    printer.leases(await rpc(client.leaseLeases(), ExitCode.badConnection));
  },
};

const keepAliveCommand: CommandSpec = {
  name: "keep-alive",
  use: "keep-alive [options] <leaseID>",
  short: "Keeps leases alive (renew)",
  flags: [{ name: "once", kind: "bool", defaultValue: false, usage: "Resets the keep-alive time to its original value and exits immediately" }],
  async run(ctx) {
    if (ctx.args.length !== 1) fail(ExitCode.badArgs, "lease keep-alive command needs lease ID as argument");
    const id = leaseFromArg(ctx.args[0] as string);
    const printer = await ctx.printer();
    const client = await ctx.client();
    if (ctx.flags.bool("once")) {
      printer.keepAlive(await rpc(client.leaseKeepAliveOnce(id), ExitCode.badConnection));
      return;
    }
    const keeper = client.leaseKeepAlive(id, (response) => {
      if (Number(response.TTL) > 0) printer.keepAlive(response);
    });
    // Runs until the lease is gone; Ctrl-C ends the process as it ends etcdctl.
    await keeper.closed;
    if (printer instanceof SimplePrinter) ctx.output.out(`lease ${leaseHex(id)} expired or revoked.\n`);
  },
};

export const leaseCommand: CommandSpec = {
  name: "lease",
  use: "lease <subcommand>",
  short: "Lease related commands",
  subcommands: [grantCommand, revokeCommand, timeToLiveCommand, listCommand, keepAliveCommand],
};
