// member add / remove / update / list / promote (member_command.go in etcdctl 3.4).

import type { MemberListResponse } from "../client/messages.js";
import type { CommandSpec } from "./command.js";
import { ExitCode, fail } from "./exit-codes.js";
import type { FlagSpec } from "./flag-parser.js";
import { SimplePrinter } from "./printer-simple.js";
import { bytesOf, parseHexUint64, rpc } from "./rpc.js";

const peerUrlsFlag = (what: string): FlagSpec[] => [
  { name: "peer-urls", kind: "string", defaultValue: "", usage: `comma separated peer URLs for the ${what} member.` },
];

function memberIdFromArgs(args: readonly string[]): string {
  if (args.length !== 1) fail(ExitCode.badArgs, "member ID is not provided");
  try {
    return parseHexUint64(args[0] as string);
  } catch (error) {
    fail(ExitCode.badArgs, `bad member ID arg (${(error as Error).message}), expecting ID in Hex`);
  }
}

const addCommand: CommandSpec = {
  name: "add",
  use: "add <memberName> [options]",
  short: "Adds a member into the cluster",
  flags: [
    ...peerUrlsFlag("new"),
    { name: "learner", kind: "bool", defaultValue: false, usage: "indicates if the new member is raft learner" },
  ],
  async run(ctx) {
    if (ctx.args.length < 1) fail(ExitCode.badArgs, "member name not provided");
    if (ctx.args.length > 1) {
      let message = "too many arguments";
      for (const arg of ctx.args) {
        if (arg.toLowerCase().startsWith("http")) message += `, did you mean --peer-urls=${arg}`;
      }
      fail(ExitCode.badArgs, message);
    }
    const name = ctx.args[0] as string;
    const peerUrls = ctx.flags.string("peer-urls");
    if (peerUrls === "") fail(ExitCode.badArgs, "member peer urls not provided");
    const urls = peerUrls.split(",");
    const printer = await ctx.printer();
    const client = await ctx.client();
    const response = await rpc(client.memberAdd(urls, ctx.flags.bool("learner")));
    printer.memberAdd(response);
    if (!(printer instanceof SimplePrinter)) return;

    // The environment for starting the new member, from a member list that includes it: read
    // from the member that answered the add, or after a quorum read has synced another one.
    const newId = response.member?.ID ?? "0";
    let list: MemberListResponse = await rpc(client.memberList());
    while (list.header.member_id !== response.header.member_id) {
      await rpc(client.range({ key: bytesOf("_") }));
      list = await rpc(client.memberList());
      if (list.members.some((m) => m.ID === newId)) break;
    }
    const conf: string[] = [];
    for (const member of list.members) {
      for (const url of member.peerURLs) conf.push(`${member.ID === newId ? name : member.name}=${url}`);
    }
    ctx.output.out(
      `\nETCD_NAME=${JSON.stringify(name)}\nETCD_INITIAL_CLUSTER=${JSON.stringify(conf.join(","))}\n` +
        `ETCD_INITIAL_ADVERTISE_PEER_URLS=${JSON.stringify(peerUrls)}\nETCD_INITIAL_CLUSTER_STATE="existing"\n`,
    );
  },
};

const removeCommand: CommandSpec = {
  name: "remove",
  use: "remove <memberID>",
  short: "Removes a member from the cluster",
  async run(ctx) {
    const id = memberIdFromArgs(ctx.args);
    const printer = await ctx.printer();
    const client = await ctx.client();
    printer.memberRemove(id, await rpc(client.memberRemove(id)));
  },
};

const updateCommand: CommandSpec = {
  name: "update",
  use: "update <memberID> [options]",
  short: "Updates a member in the cluster",
  flags: peerUrlsFlag("updated"),
  async run(ctx) {
    const id = memberIdFromArgs(ctx.args);
    const peerUrls = ctx.flags.string("peer-urls");
    if (peerUrls === "") fail(ExitCode.badArgs, "member peer urls not provided");
    const printer = await ctx.printer();
    const client = await ctx.client();
    printer.memberUpdate(id, await rpc(client.memberUpdate(id, peerUrls.split(","))));
  },
};

const listCommand: CommandSpec = {
  name: "list",
  use: "list",
  short: "Lists all members in the cluster",
  description: [
    "When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.",
    "The items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.",
  ].join("\n"),
  async run(ctx) {
    const printer = await ctx.printer();
    const client = await ctx.client();
    printer.memberList(await rpc(client.memberList()));
  },
};

const promoteCommand: CommandSpec = {
  name: "promote",
  use: "promote <memberID>",
  short: "Promotes a non-voting member in the cluster",
  description: "Promotes a non-voting learner member to a voting one in the cluster.",
  async run(ctx) {
    const id = memberIdFromArgs(ctx.args);
    const printer = await ctx.printer();
    const client = await ctx.client();
    printer.memberPromote(id, await rpc(client.memberPromote(id)));
  },
};

export const memberCommand: CommandSpec = {
  name: "member",
  use: "member <subcommand>",
  short: "Membership related commands",
  subcommands: [addCommand, removeCommand, updateCommand, listCommand, promoteCommand],
};
