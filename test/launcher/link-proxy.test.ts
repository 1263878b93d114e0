// The link proxy on real loopback sockets: pass-through, reset and drop cuts, heal, per-source cuts
// by etcd's X-Server-From header, and delay.

import { createConnection, createServer, type Server, type Socket } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { etcdServerFromIdentifier, LinkProxy } from '../../src/launcher/link-proxy.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An echo server that records what it received per connection. */
async function echoServer(): Promise<{ port: number; received: string[]; sockets: Set<Socket> }> {
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    const index = received.push('') - 1;
    s.on('data', (d: Buffer) => {
      received[index] += d.toString('latin1');
      s.write(d);
    });
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { port: address.port, received, sockets };
}

async function proxyTo(port: number, identify?: typeof etcdServerFromIdentifier): Promise<LinkProxy> {
  const proxy = await LinkProxy.start({ targetHost: '127.0.0.1', targetPort: port, ...(identify ? { identify } : {}) });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A client connection that collects what it reads and knows when it closed. */
async function client(port: number): Promise<{ socket: Socket; data: () => string; closed: () => boolean }> {
  const socket = createConnection({ host: '127.0.0.1', port });
  let data = '';
  let closed = false;
  socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  cleanups.push(() => void socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, data: () => data, closed: () => closed };
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('LinkProxy', () => {
  it('forwards both ways', async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port);
    const c = await client(proxy.port);
    c.socket.write('hello');
    await until(() => c.data() === 'hello', 'echo');
    expect(echo.received).toEqual(['hello']);
    expect(proxy.url).toBe(`http://127.0.0.1:${proxy.port}`);
  });

  it('reset cut destroys connections and refuses new ones until heal', async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port);
    const c = await client(proxy.port);
    c.socket.write('a');
    await until(() => c.data() === 'a', 'echo before the cut');
    proxy.cut('reset');
    await until(() => c.closed(), 'existing connection reset');
    const refused = await client(proxy.port);
    await until(() => refused.closed(), 'new connection closed on accept');
    expect(echo.received).toEqual(['a']);
    proxy.heal();
    const after = await client(proxy.port);
    after.socket.write('b');
    await until(() => after.data() === 'b', 'echo after heal');
    expect(proxy.stats().reset).toBe(2);
  });

  it('drop cut holds data in both directions and delivers it after heal', async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port);
    const c = await client(proxy.port);
    c.socket.write('1');
    await until(() => c.data() === '1', 'echo before the cut');
    proxy.cut('drop');
    c.socket.write('2');
    const fresh = await client(proxy.port);
    fresh.socket.write('x');
    await sleep(300);
    expect(c.data()).toBe('1');
    expect(fresh.data()).toBe('');
    expect(echo.received).toEqual(['1']);
    expect(proxy.stats().held).toBe(2);
    expect(c.closed()).toBe(false);
    proxy.heal();
    await until(() => c.data() === '12' && fresh.data() === 'x', 'held data delivered after heal');
    expect(proxy.stats().held).toBe(0);
  });

  it('cuts only the named sources when it can tell them apart (etcd X-Server-From)', async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port, etcdServerFromIdentifier);
    const request = (from: string): string => `GET /raft/stream/message/${from} HTTP/1.1\r\nHost: x\r\nX-Server-From: ${from}\r\nX-Etcd-Cluster-ID: 1\r\n\r\n`;
    const a = await client(proxy.port);
    const b = await client(proxy.port);
    const unknown = await client(proxy.port);
    // The header arrives in pieces; the proxy waits for enough of it.
    a.socket.write(request('AAAA1').slice(0, 20));
    await sleep(50);
    a.socket.write(request('AAAA1').slice(20));
    b.socket.write(request('bbbb2'));
    unknown.socket.write('GET /version HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => a.data() === request('AAAA1') && b.data() === request('bbbb2'), 'requests forwarded');
    await until(() => unknown.data().startsWith('GET /version'), 'unknown source forwarded');
    proxy.cut('reset', ['aaaa1']);
    await until(() => a.closed(), 'connection from aaaa1 reset');
    expect(b.closed()).toBe(false);
    expect(unknown.closed()).toBe(false);
    const again = await client(proxy.port);
    again.socket.write(request('aaaa1'));
    await until(() => again.closed(), 'new connection from aaaa1 refused after reading its header');
    expect(proxy.isCut('aaaa1')).toBe(true);
    expect(proxy.isCut('bbbb2')).toBe(false);
    expect(proxy.isCut('')).toBe(false);
  });

  it('identifies X-Server-From only in the header block', () => {
    const id = etcdServerFromIdentifier;
    expect(id(Buffer.from('POST /raft HTTP/1.1\r\nx-server-from: 8E9E05C52164694D\r\n\r\n'))).toBe('8e9e05c52164694d');
    expect(id(Buffer.from('POST /raft HTTP/1.1\r\nHost: a\r\n'))).toBeUndefined();
    expect(id(Buffer.from('POST /raft HTTP/1.1\r\nHost: a\r\n\r\nX-Server-From: 12\r\n'))).toBeNull();
  });

  it('delays delivery by the configured time, in order', async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port);
    const c = await client(proxy.port);
    proxy.setDelay(150);
    const start = Date.now();
    c.socket.write('p');
    await sleep(5);
    c.socket.write('q');
    await until(() => c.data() === 'pq', 'delayed echo');
    // Both directions are delayed: at least two delays for the round trip.
    expect(Date.now() - start).toBeGreaterThanOrEqual(290);
    proxy.setDelay(0);
    expect(() => proxy.setDelay(-1)).toThrow(RangeError);
  });
});
