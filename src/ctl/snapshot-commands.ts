// snapshot save / status / restore. `save` follows clientv3/snapshot's Save (one endpoint, write
// to FILE.part, the size must end in the 32-byte SHA-256 trailer, fsync, rename) and also checks
// the trailer against the data; status and restore are src/snapshot's, for ketch and etcd files.

import { createHash } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";

import type { CommandSpec } from "./command.js";
import { CtlError, ExitCode, fail } from "./exit-codes.js";
import { humanizeBytes } from "./go-format.js";

const sha256Bytes = 32;

/** etcd's rule: a body padded to 512-byte pages, then the 32-byte hash. */
function hasChecksum(size: number): boolean {
  return size % 512 === sha256Bytes;
}

/**
 * A file system error on the snapshot file `path` (the error itself, or the cause a SnapshotError
 * wraps) as Go's *PathError prints it, `OP FILE: no such file or directory`, since etcdctl reports
 * it that way and scripts match it. Undefined for any other error, e.g. one on the data dir.
 */
function goPathError(op: string, path: string, error: unknown): string | undefined {
  for (const candidate of [error, (error as { cause?: unknown }).cause]) {
    const errno = candidate as Partial<NodeJS.ErrnoException> | undefined;
    if (typeof errno?.code !== "string" || typeof errno.message !== "string" || errno.path !== path) continue;
    // Node: "ENOENT: no such file or directory, stat 'FILE'"; libuv's text is the C library's, as Go's.
    const text = new RegExp(`^${errno.code}: (.+?), [a-z]+ `).exec(errno.message)?.[1];
    if (text !== undefined) return `${op} ${path}: ${text}`;
  }
  return undefined;
}

const saveCommand: CommandSpec = {
  name: "save",
  use: "save <filename>",
  short: "Stores an etcd node backend snapshot to a given file",
  async run(ctx) {
    if (ctx.args.length !== 1) fail(ExitCode.badArgs, "snapshot save expects one argument");
    const path = ctx.args[0] as string;
    const endpoints = ctx.global.endpoints;
    if (endpoints.length !== 1) {
      fail(ExitCode.interrupted, `snapshot must be requested to one selected node, not multiple [${endpoints.join(" ")}]`);
    }
    const client = await ctx.client();
    const partPath = `${path}.part`;
    let file;
    try {
      file = await open(partPath, "w", 0o600);
    } catch (error) {
      fail(ExitCode.interrupted, `could not open ${partPath} (${(error as Error).message})`);
    }
    const showProgress = ctx.output.isTTY;
    const started = Date.now();
    let size = 0;
    let lastShown = 0;
    const hash = createHash("sha256");
    // The last 32 bytes are the trailer, not data: hash everything but the most recent 32 bytes.
    let tail = Buffer.alloc(0);
    try {
      try {
        // No deadline unless --command-timeout was given, as etcdctl (a big database takes a while).
        const options = ctx.global.commandTimeoutSet ? { timeoutMs: ctx.global.commandTimeoutMs } : {};
        for await (const chunk of client.snapshot(options)) {
          await file.write(chunk.blob);
          size += chunk.blob.length;
          const joined = Buffer.concat([tail, chunk.blob]);
          hash.update(joined.subarray(0, Math.max(0, joined.length - sha256Bytes)));
          tail = joined.subarray(Math.max(0, joined.length - sha256Bytes));
          if (showProgress && Date.now() - lastShown > 200) {
            lastShown = Date.now();
            const rate = size / Math.max(0.001, (Date.now() - started) / 1000);
            ctx.output.err(`\r${humanizeBytes(size)} (${size} bytes) received, ${humanizeBytes(Math.round(rate))}/s\x1b[K`);
          }
        }
      } catch (error) {
        throw new CtlError(ExitCode.interrupted, (error as Error).message);
      }
      if (showProgress) {
        const seconds = Math.max(0.001, (Date.now() - started) / 1000);
        ctx.output.err(`\r${humanizeBytes(size)} (${size} bytes) received in ${seconds.toFixed(1)}s, ${humanizeBytes(Math.round(size / seconds))}/s\x1b[K\n`);
      }
      if (!hasChecksum(size)) throw new CtlError(ExitCode.interrupted, `sha256 checksum not found [bytes: ${size}]`);
      if (!hash.digest().equals(tail)) {
        throw new CtlError(ExitCode.interrupted, `snapshot checksum mismatch: the sha256 trailer does not match the data [bytes: ${size}]`);
      }
      await file.sync();
      await file.close();
      file = undefined;
      try {
        await rename(partPath, path);
      } catch (error) {
        throw new CtlError(ExitCode.interrupted, `could not rename ${partPath} to ${path} (${(error as Error).message})`);
      }
    } finally {
      await file?.close().catch(() => undefined);
      await rm(partPath, { force: true });
    }
    ctx.output.out(`Snapshot saved at ${path}\n`);
  },
};

const statusCommand: CommandSpec = {
  name: "status",
  use: "status <filename>",
  short: "Gets backend snapshot status of a given file",
  description: [
    "When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.",
    "The items in the lists are hash, revision, total keys, total size.",
  ].join("\n"),
  async run(ctx) {
    if (ctx.args.length !== 1) fail(ExitCode.badArgs, "snapshot status requires exactly one argument");
    const printer = await ctx.printer();
    const { snapshotStatus } = await import("../snapshot/snapshot-status.js");
    const path = ctx.args[0] as string;
    let status;
    try {
      status = await snapshotStatus(path);
    } catch (error) {
      // etcdctl's first step is a stat of the file; its error reads like Go's.
      throw new CtlError(ExitCode.error, goPathError("stat", path, error) ?? (error as Error).message);
    }
    printer.dbStatus(status);
  },
};

const restoreCommand: CommandSpec = {
  name: "restore",
  use: "restore <filename> [options]",
  short: "Restores an etcd member snapshot to an etcd directory",
  flags: [
    { name: "data-dir", kind: "string", defaultValue: "", usage: "Path to the data directory" },
    { name: "wal-dir", kind: "string", defaultValue: "", usage: "Path to the WAL directory (use --data-dir if none given)" },
    { name: "initial-cluster", kind: "string", defaultValue: "default=http://localhost:2380", usage: "Initial cluster configuration for restore bootstrap" },
    { name: "initial-cluster-token", kind: "string", defaultValue: "etcd-cluster", usage: "Initial cluster token for the etcd cluster during restore bootstrap" },
    {
      name: "initial-advertise-peer-urls",
      kind: "string",
      defaultValue: "http://localhost:2380",
      usage: "List of this member's peer URLs to advertise to the rest of the cluster",
    },
    { name: "name", kind: "string", defaultValue: "default", usage: "Human-readable name for this member" },
    { name: "skip-hash-check", kind: "bool", defaultValue: false, usage: "Ignore snapshot integrity hash value (required if copied from data directory)" },
  ],
  async run(ctx) {
    if (ctx.args.length !== 1) fail(ExitCode.badArgs, "snapshot restore requires exactly one argument");
    if (ctx.flags.string("wal-dir") !== "") fail(ExitCode.badFeature, "--wal-dir is not supported: ketch keeps its log in the data dir");
    const { restoreSnapshot } = await import("../snapshot/snapshot-restore.js");
    const name = ctx.flags.string("name");
    const dataDir = ctx.flags.string("data-dir");
    const path = ctx.args[0] as string;
    let result;
    try {
      result = await restoreSnapshot({
        snapshotPath: path,
        name,
        initialCluster: ctx.flags.string("initial-cluster"),
        initialClusterToken: ctx.flags.string("initial-cluster-token"),
        initialAdvertisePeerUrls: ctx.flags.string("initial-advertise-peer-urls"),
        ...(dataDir === "" ? {} : { dataDir }),
        skipHashCheck: ctx.flags.bool("skip-hash-check"),
      });
    } catch (error) {
      // etcdctl's restore opens the file first: `open FILE: no such file or directory`.
      throw new CtlError(ExitCode.error, goPathError("open", path, error) ?? (error as Error).message);
    }
    for (const warning of result.warnings) ctx.output.err(`warning: ${warning}\n`);
    ctx.output.err(
      `restored snapshot (${result.format} format, revision ${result.revision}, ${result.keys} keys) to ${result.dataDir} ` +
        `as member ${result.memberId} of cluster ${result.clusterId}\n`,
    );
  },
};

export const snapshotCommand: CommandSpec = {
  name: "snapshot",
  use: "snapshot <subcommand>",
  short: "Manages etcd node snapshots",
  subcommands: [saveCommand, restoreCommand, statusCommand],
};
