// The per-describe cluster fixture every integration file uses (kept out of cluster.ts, which must
// not import vitest: bench/put-bench.ts uses the harness outside a test runner).
import { afterAll, beforeAll, beforeEach } from "vitest";
import { type Cluster, type ClusterOptions, type Impl, startCluster } from "./cluster.js";

/**
 * Starts an `n`-member cluster of `impl` before the describe's tests and destroys it after them.
 * A startup failure (e.g. no /usr/bin/etcd) fails every test rather than skipping it; a failed test
 * keeps the members' logs. Returns the accessor for the running cluster.
 */
export function useCluster(impl: Impl, n: number, opts: ClusterOptions = {}): () => Cluster {
  let cluster: Cluster | undefined;
  let startupError: unknown;
  beforeAll(async () => {
    try {
      cluster = await startCluster(impl, n, opts);
    } catch (error) {
      startupError = error ?? new Error(`${impl} cluster failed to start`);
    }
  }, 90_000);
  beforeEach(({ onTestFailed }) => {
    if (startupError !== undefined) throw startupError;
    onTestFailed(() => cluster?.markFailed());
  });
  afterAll(async () => {
    await cluster?.destroy();
  }, 60_000);
  return () => {
    if (cluster === undefined) throw new Error("cluster not started");
    return cluster;
  };
}
