import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { freePorts } from "./free-port.js";

/** Debian package etcd-server (3.4.23 on the dev image). */
export const etcdBinary = "/usr/bin/etcd";

export interface RealEtcd {
  readonly name: string;
  /** host:port for grpc-js. */
  readonly clientAddress: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly process: ChildProcess;
  /** Last lines etcd wrote, for failure messages. */
  logTail(): string;
  stop(): Promise<void>;
}

const logTailBytesMax = 8192;

/**
 * Starts a single-member etcd on free loopback ports with a temp data dir.
 * Throws (so the calling test fails, never skips) when the binary is missing.
 * The caller must wait for readiness itself (e.g. by polling Status over gRPC).
 */
export async function startRealEtcd(name = "ketch-etcd-test"): Promise<RealEtcd> {
  if (!existsSync(etcdBinary)) {
    throw new Error(
      `${etcdBinary} is missing: the etcd 3.4 wire tests need a real etcd server. ` +
        "Install it with: apt-get update && apt-get install -y etcd-server etcd-client",
    );
  }
  const [clientPort, peerPort] = await freePorts(2);
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const dataDir = await mkdtemp(join(tmpdir(), "ketch-etcd-"));

  const child = spawn(
    etcdBinary,
    [
      `--name=${name}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=${name}=${peerUrl}`,
      "--initial-cluster-state=new",
      `--initial-cluster-token=${name}-${process.pid}`,
      "--logger=zap",
      "--log-outputs=stderr",
    ],
    // ETCD_* variables from the environment would override the flags above.
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("ETCD_"))),
    },
  );

  let log = "";
  const appendLog = (chunk: Buffer): void => {
    log = (log + chunk.toString("utf8")).slice(-logTailBytesMax);
  };
  child.stdout?.on("data", appendLog);
  child.stderr?.on("data", appendLog);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });

  return {
    name,
    clientAddress: `127.0.0.1:${clientPort}`,
    clientUrl,
    peerUrl,
    dataDir,
    process: child,
    logTail: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
