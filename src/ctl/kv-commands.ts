// get, put, del and compaction with etcdctl 3.4's flags, argument rules and messages
// (get_command.go, put_command.go, del_command.go, compaction_command.go).

import type { DeleteRangeRequest, PutRequest, RangeRequest, SortOrder, SortTarget } from "../client/messages.js";
import type { CommandContext, CommandSpec } from "./command.js";
import { CtlError, ExitCode, fail } from "./exit-codes.js";
import type { FlagReader } from "./command.js";
import { bytesOf, parseDecInt64, parseHexInt64, prefixRangeEnd, rpc } from "./rpc.js";
import { SimplePrinter } from "./printer-simple.js";

const sortTargets: Record<string, SortTarget> = { CREATE: "CREATE", KEY: "KEY", MODIFY: "MOD", VALUE: "VALUE", VERSION: "VERSION" };

/** The Range request of `get` (also used for `get` lines in txn scripts). */
export function getRequest(args: readonly string[], flags: FlagReader): RangeRequest {
  if (args.length === 0) fail(ExitCode.badArgs, "get command needs one argument as key and an optional argument as range_end");
  const prefix = flags.bool("prefix");
  const fromKey = flags.bool("from-key");
  if (prefix && fromKey) fail(ExitCode.badArgs, "`--prefix` and `--from-key` cannot be set at the same time, choose one");
  const request: RangeRequest = { key: bytesOf(args[0] as string) };
  const consistency = flags.string("consistency");
  if (consistency === "s") request.serializable = true;
  else if (consistency !== "l") fail(ExitCode.badFeature, `unknown consistency flag ${JSON.stringify(consistency)}`);
  if (args.length > 1) {
    if (prefix || fromKey) fail(ExitCode.badArgs, "too many arguments, only accept one argument when `--prefix` or `--from-key` is set");
    // An empty range_end is left off the wire, as etcdctl's Go protobuf does: etcd reads a present
    // but empty range_end as "every key from key on".
    if (args[1] !== "") request.range_end = bytesOf(args[1] as string);
  }
  request.limit = flags.int("limit");
  const rev = flags.int("rev");
  if (rev > 0) request.revision = rev;

  const order = flags.string("order").toUpperCase();
  let sortOrder: SortOrder = "NONE";
  if (order === "ASCEND") sortOrder = "ASCEND";
  else if (order === "DESCEND") sortOrder = "DESCEND";
  else if (order !== "") fail(ExitCode.badFeature, `bad sort order ${flags.string("order")}`);
  const targetName = flags.string("sort-by").toUpperCase();
  let sortTarget: SortTarget = "KEY";
  if (targetName !== "") {
    const target = sortTargets[targetName];
    if (target === undefined) fail(ExitCode.badFeature, `bad sort target ${flags.string("sort-by")}`);
    sortTarget = target;
  }
  // clientv3.WithSort: ascending by key is the natural order, sent as no sort at all.
  if (sortTarget === "KEY" && sortOrder === "ASCEND") sortOrder = "NONE";
  request.sort_order = sortOrder;
  request.sort_target = sortTarget;

  if (prefix) {
    if (request.key.length === 0) {
      request.key = Buffer.from([0]);
      request.range_end = Buffer.from([0]);
    } else request.range_end = prefixRangeEnd(request.key);
  }
  if (fromKey) {
    if (request.key.length === 0) request.key = Buffer.from([0]);
    request.range_end = Buffer.from([0]);
  }
  if (flags.bool("keys-only")) request.keys_only = true;
  return request;
}

/** The Put request of `put` (value from the argument or, without one, from stdin). */
export async function putRequest(args: readonly string[], flags: FlagReader, readStdin: () => Promise<Buffer>): Promise<PutRequest> {
  const usage = "put command needs 1 argument and input from stdin or 2 arguments";
  if (args.length === 0) fail(ExitCode.badArgs, usage);
  const ignoreValue = flags.bool("ignore-value");
  if (ignoreValue && args.length > 1) fail(ExitCode.badArgs, "put command needs only 1 argument when 'ignore-value' is set");
  const request: PutRequest = { key: bytesOf(args[0] as string) };
  if (!ignoreValue) {
    if (args.length > 1) request.value = bytesOf(args[1] as string);
    else {
      const value = await readStdin();
      if (value.length === 0) fail(ExitCode.badArgs, usage);
      request.value = value;
    }
  }
  let lease: string;
  try {
    lease = parseHexInt64(flags.string("lease"));
  } catch (error) {
    fail(ExitCode.badArgs, `bad lease ID (${(error as Error).message}), expecting ID in Hex`);
  }
  if (lease !== "0") request.lease = lease;
  if (flags.bool("prev-kv")) request.prev_kv = true;
  if (ignoreValue) request.ignore_value = true;
  if (flags.bool("ignore-lease")) request.ignore_lease = true;
  return request;
}

/** The DeleteRange request of `del`. */
export function delRequest(args: readonly string[], flags: FlagReader): DeleteRangeRequest {
  if (args.length === 0 || args.length > 2) fail(ExitCode.badArgs, "del command needs one argument as key and an optional argument as range_end");
  const prefix = flags.bool("prefix");
  const fromKey = flags.bool("from-key");
  if (prefix && fromKey) fail(ExitCode.badArgs, "`--prefix` and `--from-key` cannot be set at the same time, choose one");
  const request: DeleteRangeRequest = { key: bytesOf(args[0] as string) };
  if (args.length > 1) {
    if (prefix || fromKey) fail(ExitCode.badArgs, "too many arguments, only accept one argument when `--prefix` or `--from-key` is set");
    // An empty range_end is left off the wire, as etcdctl's Go protobuf does: etcd reads a present
    // but empty range_end as "every key from key on".
    if (args[1] !== "") request.range_end = bytesOf(args[1] as string);
  }
  if (prefix) {
    if (request.key.length === 0) {
      request.key = Buffer.from([0]);
      request.range_end = Buffer.from([0]);
    } else request.range_end = prefixRangeEnd(request.key);
  }
  if (flags.bool("prev-kv")) request.prev_kv = true;
  if (fromKey) {
    if (request.key.length === 0) request.key = Buffer.from([0]);
    request.range_end = Buffer.from([0]);
  }
  return request;
}

export const getFlags = [
  { name: "consistency", kind: "string", defaultValue: "l", usage: "Linearizable(l) or Serializable(s)" },
  { name: "order", kind: "string", defaultValue: "", usage: "Order of results; ASCEND or DESCEND (ASCEND by default)" },
  { name: "sort-by", kind: "string", defaultValue: "", usage: "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION" },
  { name: "limit", kind: "int", defaultValue: 0, usage: "Maximum number of results" },
  { name: "prefix", kind: "bool", defaultValue: false, usage: "Get keys with matching prefix" },
  { name: "from-key", kind: "bool", defaultValue: false, usage: "Get keys that are greater than or equal to the given key using byte compare" },
  { name: "rev", kind: "int", defaultValue: 0, usage: "Specify the kv revision" },
  { name: "keys-only", kind: "bool", defaultValue: false, usage: "Get only the keys" },
  { name: "print-value-only", kind: "bool", defaultValue: false, usage: 'Only write values when using the "simple" output format' },
] as const satisfies CommandSpec["flags"];

export const putFlags = [
  { name: "lease", kind: "string", defaultValue: "0", usage: "lease ID (in hexadecimal) to attach to the key" },
  { name: "prev-kv", kind: "bool", defaultValue: false, usage: "return the previous key-value pair before modification" },
  { name: "ignore-value", kind: "bool", defaultValue: false, usage: "updates the key using its current value" },
  { name: "ignore-lease", kind: "bool", defaultValue: false, usage: "updates the key using its current lease" },
] as const satisfies CommandSpec["flags"];

export const delFlags = [
  { name: "prefix", kind: "bool", defaultValue: false, usage: "delete keys with matching prefix" },
  { name: "prev-kv", kind: "bool", defaultValue: false, usage: "return deleted key-value pairs" },
  { name: "from-key", kind: "bool", defaultValue: false, usage: "delete keys that are greater than or equal to the given key using byte compare" },
] as const satisfies CommandSpec["flags"];

export const getCommand: CommandSpec = {
  name: "get",
  use: "get [options] <key> [range_end]",
  short: "Gets the key or a range of keys",
  flags: [...getFlags],
  async run(ctx: CommandContext) {
    const request = getRequest(ctx.args, ctx.flags);
    const printer = await ctx.printer();
    const client = await ctx.client();
    const response = await rpc(client.range(request));
    if (ctx.flags.bool("print-value-only")) {
      if (!(printer instanceof SimplePrinter)) fail(ExitCode.badArgs, "print-value-only is only for `--write-out=simple`");
      printer.valueOnly = true;
    }
    printer.get(response);
  },
};

export const putCommand: CommandSpec = {
  name: "put",
  use: "put [options] <key> <value> (<value> can also be given from stdin)",
  short: "Puts the given key into the store",
  description: [
    "Puts the given key into the store.",
    "",
    "When <value> begins with '-', <value> is interpreted as a flag.",
    "Insert '--' for workaround:",
    "",
    "$ put <key> -- <value>",
    "$ put -- <key> <value>",
    "",
    "If <value> isn't given as a command line argument and '--ignore-value' is not specified,",
    "this command tries to read the value from standard input.",
    "",
    "If <lease> isn't given as a command line argument and '--ignore-lease' is not specified,",
    "this command tries to read the value from standard input.",
    "",
    "For example,",
    "$ cat file | put <key>",
    "will store the content of the file to <key>.",
  ].join("\n"),
  flags: [...putFlags],
  async run(ctx) {
    const request = await putRequest(ctx.args, ctx.flags, ctx.readStdin);
    const printer = await ctx.printer();
    const client = await ctx.client();
    printer.put(await rpc(client.put(request)));
  },
};

export const delCommand: CommandSpec = {
  name: "del",
  use: "del [options] <key> [range_end]",
  short: "Removes the specified key or range of keys [key, range_end)",
  flags: [...delFlags],
  async run(ctx) {
    const request = delRequest(ctx.args, ctx.flags);
    const printer = await ctx.printer();
    const client = await ctx.client();
    printer.del(await rpc(client.deleteRange(request)));
  },
};

export const compactionCommand: CommandSpec = {
  name: "compaction",
  use: "compaction [options] <revision>",
  short: "Compacts the event history in etcd",
  flags: [{ name: "physical", kind: "bool", defaultValue: false, usage: "'true' to wait for compaction to physically remove all old revisions" }],
  async run(ctx) {
    if (ctx.args.length !== 1) fail(ExitCode.badArgs, "compaction command needs 1 argument");
    let revision: string;
    try {
      revision = parseDecInt64(ctx.args[0] as string);
    } catch (error) {
      throw new CtlError(ExitCode.error, (error as Error).message);
    }
    await ctx.printer();
    const client = await ctx.client();
    await rpc(client.compact({ revision, physical: ctx.flags.bool("physical") }));
    ctx.output.out(`compacted revision ${revision}\n`);
  },
};
