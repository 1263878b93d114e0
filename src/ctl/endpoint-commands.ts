// endpoint health / status / hashkv (ep_command.go), move-leader, defrag and alarm
// (move_leader_command.go, defrag_command.go, alarm_command.go) of etcdctl 3.4: the commands
// that talk to each endpoint on its own.

import type { CommandContext, CommandSpec } from "./command.js";
import { CtlError, CtlExit, ExitCode, fail } from "./exit-codes.js";
import { goDurationString } from "./go-format.js";
import type { EpHashKV, EpHealth, EpStatus } from "./printer.js";
import { bytesOf, parseHexUint64, rpc } from "./rpc.js";

const clusterFlag = { name: "cluster", kind: "bool", defaultValue: false, usage: "use all endpoints from the cluster member list" } as const;

/** --endpoints, or with --cluster every member's client URLs from MemberList. */
export async function endpointsFromCluster(ctx: CommandContext): Promise<string[]> {
  if (!ctx.flags.bool("cluster")) return ctx.global.endpoints;
  const client = await ctx.client();
  const members = await rpc(client.memberList(), ExitCode.error, (m) => `failed to fetch endpoints from etcd cluster member list: ${m}`);
  return members.members.flatMap((member) => member.clientURLs);
}

const healthCommand: CommandSpec = {
  name: "health",
  use: "health",
  short: "Checks the healthiness of endpoints specified in `--endpoints` flag",
  async run(ctx) {
    const printer = await ctx.printer();
    const endpoints = await endpointsFromCluster(ctx);
    const client = await ctx.client(endpoints);
    const results: EpHealth[] = [];
    // Reported in the order the answers arrive, as etcdctl's channel does.
    await Promise.all(
      endpoints.map(async (ep) => {
        const started = process.hrtime.bigint();
        let error = "";
        try {
          // A linearizable read of a random key: it succeeds only through a working quorum.
          await client.forEndpoint(ep).range({ key: bytesOf("health") });
        } catch (failure) {
          const message = failure instanceof Error ? failure.message : String(failure);
          if (message !== "etcdserver: permission denied") error = message;
        }
        const took = goDurationString(process.hrtime.bigint() - started);
        results.push({ ep, health: error === "", took, error });
      }),
    );
    printer.endpointHealth(results);
    if (results.some((result) => result.error !== "")) throw new CtlError(ExitCode.error, "unhealthy cluster");
  },
};

const statusCommand: CommandSpec = {
  name: "status",
  use: "status",
  short: "Prints out the status of endpoints specified in `--endpoints` flag",
  description: [
    "When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.",
    "The items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.",
  ].join("\n"),
  async run(ctx) {
    const printer = await ctx.printer();
    const endpoints = await endpointsFromCluster(ctx);
    const client = await ctx.client(endpoints);
    const list: EpStatus[] = [];
    let failed = false;
    for (const ep of endpoints) {
      try {
        list.push({ ep, resp: await client.forEndpoint(ep).status() });
      } catch (error) {
        ctx.output.err(`Failed to get the status of endpoint ${ep} (${(error as Error).message})\n`);
        failed = true;
      }
    }
    printer.endpointStatus(list);
    if (failed) throw new CtlExit(ExitCode.error);
  },
};

const hashKVCommand: CommandSpec = {
  name: "hashkv",
  use: "hashkv",
  short: "Prints the KV history hash for each endpoint in --endpoints",
  flags: [{ name: "rev", kind: "int", defaultValue: 0, usage: "maximum revision to hash (default: all revisions)" }],
  async run(ctx) {
    const printer = await ctx.printer();
    const endpoints = await endpointsFromCluster(ctx);
    const client = await ctx.client(endpoints);
    const list: EpHashKV[] = [];
    let failed = false;
    for (const ep of endpoints) {
      try {
        list.push({ ep, resp: await client.forEndpoint(ep).hashKV(ctx.flags.int("rev")) });
      } catch (error) {
        ctx.output.err(`Failed to get the hash of endpoint ${ep} (${(error as Error).message})\n`);
        failed = true;
      }
    }
    printer.endpointHashKV(list);
    if (failed) throw new CtlExit(ExitCode.error);
  },
};

export const endpointCommand: CommandSpec = {
  name: "endpoint",
  use: "endpoint <subcommand>",
  short: "Endpoint related commands",
  persistentFlags: [clusterFlag],
  subcommands: [healthCommand, statusCommand, hashKVCommand],
};

export const moveLeaderCommand: CommandSpec = {
  name: "move-leader",
  use: "move-leader <transferee-member-id>",
  short: "Transfers leadership to another etcd cluster member.",
  async run(ctx) {
    if (ctx.args.length !== 1) fail(ExitCode.badArgs, "move-leader command needs 1 argument");
    let target: string;
    try {
      target = parseHexUint64(ctx.args[0] as string);
    } catch (error) {
      fail(ExitCode.badArgs, (error as Error).message);
    }
    const printer = await ctx.printer();
    const client = await ctx.client();
    // Only the leader can transfer leadership: find the endpoint whose member leads.
    for (const ep of client.endpoints) {
      const status = await rpc(client.forEndpoint(ep).status());
      if (status.header.member_id === status.leader) {
        const response = await rpc(client.forEndpoint(ep).moveLeader(target));
        printer.moveLeader(status.leader, target, response);
        return;
      }
    }
    fail(ExitCode.badArgs, `no leader endpoint given at [${client.endpoints.join(" ")}]`);
  },
};

export const defragCommand: CommandSpec = {
  name: "defrag",
  use: "defrag",
  short: "Defragments the storage of the etcd members with given endpoints",
  flags: [clusterFlag, { name: "data-dir", kind: "string", defaultValue: "", usage: "Optional. If present, defragments a data directory not in use by etcd." }],
  async run(ctx) {
    if (ctx.flags.string("data-dir") !== "") {
      fail(ExitCode.badFeature, "--data-dir (offline defragmentation of a bbolt file) is not supported by ketchctl");
    }
    const endpoints = await endpointsFromCluster(ctx);
    const client = await ctx.client(endpoints);
    let failures = 0;
    for (const ep of endpoints) {
      try {
        await client.forEndpoint(ep).defragment();
        ctx.output.out(`Finished defragmenting etcd member[${ep}]\n`);
      } catch (error) {
        ctx.output.err(`Failed to defragment etcd member[${ep}] (${(error as Error).message})\n`);
        failures++;
      }
    }
    if (failures !== 0) throw new CtlExit(ExitCode.error);
  },
};

const alarmDisarmCommand: CommandSpec = {
  name: "disarm",
  use: "disarm",
  short: "Disarms all alarms",
  async run(ctx) {
    if (ctx.args.length !== 0) fail(ExitCode.badArgs, "alarm disarm command accepts no arguments");
    const printer = await ctx.printer();
    const client = await ctx.client();
    // clientv3's AlarmDisarm with no member and type: list, then disarm each alarm found.
    const listed = await rpc(client.alarm({ action: "GET" }));
    const result = { header: null, alarms: [] as typeof listed.alarms };
    for (const alarm of listed.alarms) {
      const response = await rpc(client.alarm({ action: "DEACTIVATE", memberID: alarm.memberID, alarm: alarm.alarm }));
      result.alarms.push(...response.alarms);
    }
    printer.alarm(result);
  },
};

const alarmListCommand: CommandSpec = {
  name: "list",
  use: "list",
  short: "Lists all alarms",
  async run(ctx) {
    if (ctx.args.length !== 0) fail(ExitCode.badArgs, "alarm list command accepts no arguments");
    const printer = await ctx.printer();
    const client = await ctx.client();
    printer.alarm(await rpc(client.alarm({ action: "GET" })));
  },
};

export const alarmCommand: CommandSpec = {
  name: "alarm",
  use: "alarm <subcommand>",
  short: "Alarm related commands",
  subcommands: [alarmDisarmCommand, alarmListCommand],
};
