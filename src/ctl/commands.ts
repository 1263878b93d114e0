// The ketchctl command tree (etcdctl 3.4's commands).

import type { CommandSpec } from "./command.js";
import { authCommand, roleCommand, userCommand } from "./auth-commands.js";
import { electCommand, lockCommand } from "./concurrency-commands.js";
import { alarmCommand, defragCommand, endpointCommand, moveLeaderCommand } from "./endpoint-commands.js";
import { apiVersion, programName } from "./help.js";
import { compactionCommand, delCommand, getCommand, putCommand } from "./kv-commands.js";
import { leaseCommand } from "./lease-commands.js";
import { memberCommand } from "./member-commands.js";
import { snapshotCommand } from "./snapshot-commands.js";
import { txnCommand } from "./txn-command.js";
import { watchCommand } from "./watch-command.js";
import { KETCH_VERSION } from "../version.js";

const versionCommand: CommandSpec = {
  name: "version",
  use: "version",
  short: `Prints the version of ${programName}`,
  async run(ctx) {
    ctx.output.out(`${programName} version: ${KETCH_VERSION}\nAPI version: ${apiVersion}\n`);
  },
};

const helpCommand: CommandSpec = {
  name: "help",
  use: "help [command]",
  short: "Help about any command",
};

export function rootCommand(): CommandSpec {
  return {
    name: programName,
    use: programName,
    short: "A simple command line client for etcd3 (Ketch's etcdctl).",
    subcommands: [
      alarmCommand,
      authCommand,
      compactionCommand,
      defragCommand,
      delCommand,
      electCommand,
      endpointCommand,
      getCommand,
      helpCommand,
      leaseCommand,
      lockCommand,
      memberCommand,
      moveLeaderCommand,
      putCommand,
      roleCommand,
      snapshotCommand,
      txnCommand,
      userCommand,
      versionCommand,
      watchCommand,
    ],
  };
}
