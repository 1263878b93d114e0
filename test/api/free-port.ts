import { createServer, type Server } from "node:net";

function listenOnAnyPort(server: Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        reject(new Error(`unexpected listen address ${String(address)}`));
        return;
      }
      resolve(address.port);
    });
  });
}

/**
 * `count` distinct loopback TCP ports that were free a moment ago: listen on
 * port 0, read the port the kernel picked, close. All listeners stay open until
 * every port is read, so no port repeats. Another process could still take one
 * before the caller binds it; that race is acceptable for tests.
 */
export async function freePorts(count: number, host = "127.0.0.1"): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    const ports: number[] = [];
    for (const server of servers) ports.push(await listenOnAnyPort(server, host));
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
