import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";

// Ports a test hands to a child process stay unbound until the child listens. A port from the
// kernel's ephemeral range (port 0) can meanwhile become the local port of some outgoing
// connection of the busy test suite, and the child then dies with EADDRINUSE. So ports come from
// below that range, where no connection is assigned one, and each vitest worker (VITEST_POOL_ID,
// unique among the workers running at once) draws from its own slice, so two test files running
// in parallel never pick the same port.
const FIRST_PORT = 20_000;
const SLICE = 2_000;

function ephemeralLow(): number {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  } catch {
    return 32_768;
  }
}

/** This worker's slice [start, end), or undefined outside vitest or when the slice would reach the ephemeral range. */
function workerSlice(): { start: number; end: number } | undefined {
  const pool = Number(process.env.VITEST_POOL_ID);
  if (!Number.isInteger(pool) || pool < 1) return undefined;
  const start = FIRST_PORT + (pool - 1) * SLICE;
  const end = start + SLICE;
  return end <= ephemeralLow() ? { start, end } : undefined;
}

const slice = workerSlice();
// A random start, so a file does not retry the ports the previous file in this worker just used.
let cursor = slice === undefined ? 0 : Math.floor(Math.random() * SLICE);

function listen(server: Server, host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => (port !== 0 && (error.code === "EADDRINUSE" || error.code === "EACCES") ? resolve(undefined) : reject(error)));
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        reject(new Error(`unexpected listen address ${String(address)}`));
        return;
      }
      resolve(address.port);
    });
  });
}

/** Listen on the next free port of this worker's slice, or on port 0 outside one. */
async function listenOnFreePort(server: Server, host: string): Promise<number> {
  if (slice === undefined) return (await listen(server, host, 0)) as number;
  for (let tries = 0; tries < SLICE; tries++) {
    const port = slice.start + (cursor++ % SLICE);
    const got = await listen(server, host, port);
    if (got !== undefined) return got;
  }
  throw new Error(`no free port in ${slice.start}-${slice.end - 1}`);
}

/**
 * `count` distinct loopback TCP ports that were free a moment ago: listen, read the port, close.
 * All listeners stay open until every port is read, so no port repeats, and under vitest the ports
 * come from this worker's slice below the ephemeral range (see above), so neither an outgoing
 * connection nor a parallel test file takes one before the caller binds it.
 */
export async function freePorts(count: number, host = "127.0.0.1"): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    const ports: number[] = [];
    for (const server of servers) ports.push(await listenOnFreePort(server, host));
    return ports;
  } finally {
    await Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            if (server.listening) server.close(() => resolve());
            else resolve();
          }),
      ),
    );
  }
}

/** One free loopback port; see freePorts. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const [port] = await freePorts(1, host);
  if (port === undefined) throw new Error("freePorts(1) returned no port");
  return port;
}
