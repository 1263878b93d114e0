// Dial overrides: a member can be told to dial a peer URL through another address (a TCP proxy per
// directed link, as the torture suite and `ketch-cluster partition` do), while the peer keeps its
// advertised URL. Checked with a plain counting forwarder, so the transport is tested on its own.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { MessageType, message } from '../../src/raft/types.js';
import { PeerTransport } from '../../src/transport/peer-transport.js';
import { dialUrl, parseDialOverrides } from '../../src/transport/peer-url.js';
import { TransportError } from '../../src/transport/transport-error.js';
import { freePorts } from '../api/free-port.js';
import { ketchEntry } from '../integration/cluster.js';
import { clusterId, ids, patternBytes, Recorder, until } from './fixtures.js';

describe('parseDialOverrides', () => {
  it('maps peer URLs to the URLs to dial', () => {
    const map = parseDialOverrides('{"http://127.0.0.1:2380":"http://127.0.0.1:3380","http://[::1]:2381":"http://127.0.0.1:3381"}');
    expect([...map]).toEqual([
      ['http://127.0.0.1:2380', 'http://127.0.0.1:3380'],
      ['http://[::1]:2381', 'http://127.0.0.1:3381'],
    ]);
    expect(dialUrl('http://127.0.0.1:2380', map)).toBe('http://127.0.0.1:3380');
    expect(dialUrl('http://127.0.0.1:9999', map)).toBe('http://127.0.0.1:9999');
    expect(dialUrl('http://127.0.0.1:9999', undefined)).toBe('http://127.0.0.1:9999');
    // A TLS peer stays TLS through its (TCP) proxy.
    expect(dialUrl('https://127.0.0.1:4380', new Map([['https://127.0.0.1:4380', 'http://127.0.0.1:5380']]))).toBe('https://127.0.0.1:5380');
  });

  it.each([
    ['not json', /not valid JSON/],
    ['[]', /must be a JSON object/],
    ['null', /must be a JSON object/],
    ['{"http://127.0.0.1:2380": 5}', /must be a URL string/],
    ['{"ftp://127.0.0.1:2380": "http://127.0.0.1:1"}', /scheme ftp: is not supported/],
    ['{"http://127.0.0.1:2380": "http://127.0.0.1"}', /must name a host and a port/],
  ])('refuses %s', (text, reason) => {
    expect(() => parseDialOverrides(text)).toThrow(TransportError);
    expect(() => parseDialOverrides(text)).toThrow(reason);
  });
});

/** A TCP forwarder that counts connections and can cut them all. */
class Forwarder {
  connections = 0;
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<Forwarder> {
    const server = createServer();
    const [port] = await freePorts(1);
    const fwd = new Forwarder(server, port as number);
    server.on('connection', (inbound) => {
      fwd.connections++;
      const outbound = createConnection({ host: '127.0.0.1', port: targetPort });
      for (const s of [inbound, outbound]) {
        fwd.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          fwd.sockets.delete(s);
          inbound.destroy();
          outbound.destroy();
        });
      }
      inbound.pipe(outbound);
      outbound.pipe(inbound);
    });
    await new Promise<void>((resolve) => server.listen(fwd.port, '127.0.0.1', resolve));
    return fwd;
  }

  cutAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('PeerTransport with dial overrides', () => {
  it('dials the override for messages and snapshots, and only for the overridden peer', async () => {
    const [portA, portB] = (await freePorts(2)) as [number, number];
    const urlA = `http://127.0.0.1:${portA}`;
    const urlB = `http://127.0.0.1:${portB}`;
    const fwd = await Forwarder.start(portB);
    cleanups.push(() => fwd.close());
    const recA = new Recorder();
    const recB = new Recorder();
    const a = new PeerTransport({
      selfId: ids.a,
      clusterId,
      handler: recA,
      dialOverrides: new Map([[urlB, `http://127.0.0.1:${fwd.port}`]]),
    });
    const b = new PeerTransport({ selfId: ids.b, clusterId, handler: recB });
    cleanups.push(() => a.close(), () => b.close());
    await a.listen(urlA);
    await b.listen(urlB);
    a.addPeer(ids.b, [urlB]);
    b.addPeer(ids.a, [urlA]);
    await until(() => a.isActive(ids.b) && b.isActive(ids.a), 'streams active');
    expect(fwd.connections).toBe(1);

    a.send([message({ type: MessageType.Heartbeat, from: ids.a, to: ids.b, term: 2, commit: 1 })]);
    a.send([message({ type: MessageType.Snap, from: ids.a, to: ids.b, term: 2, snapshot: { metadata: { index: 9, term: 2, confState: { voters: [ids.a, ids.b], learners: [] } }, data: patternBytes(3000, 1) } })]);
    b.send([message({ type: MessageType.HeartbeatResp, from: ids.b, to: ids.a, term: 2 })]);
    await until(() => recB.messages.length === 2 && recA.messages.length === 1, 'messages delivered');
    // The snapshot went on its own connection, through the forwarder too.
    expect(fwd.connections).toBe(2);
    await until(() => recA.snapshotStatus.length === 1, 'snapshot status');
    expect(recA.snapshotStatus).toEqual([[ids.b, true]]);

    // Cutting the forwarder breaks a → b only; b → a dials directly and stays up.
    fwd.cutAll();
    await until(() => recA.unreachable.includes(ids.b) || !a.isActive(ids.b), 'a notices the cut link');
    expect(b.isActive(ids.a)).toBe(true);
    b.send([message({ type: MessageType.HeartbeatResp, from: ids.b, to: ids.a, term: 2 })]);
    await until(() => recA.messages.length === 2, 'b → a still delivered');
    // The stream comes back through the forwarder (a fresh connection), not around it.
    await until(() => a.isActive(ids.b), 'a → b reconnects');
    expect(fwd.connections).toBeGreaterThanOrEqual(3);
  });
});

describe('ketch KETCH_PEER_DIAL_OVERRIDES', () => {
  it('refuses a malformed value with a one-line reason and exit code 2', () => {
    expect(existsSync(ketchEntry), `${ketchEntry} missing: run npx tsc -p tsconfig.json`).toBe(true);
    const result = spawnSync(process.execPath, [ketchEntry, '--data-dir', join('/tmp', `never-created-${process.pid}`)], {
      env: { ...process.env, KETCH_PEER_DIAL_OVERRIDES: '{"http://127.0.0.1:2380": "ftp://x:1"}' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr.trim()).toBe(
      'ketch: KETCH_PEER_DIAL_OVERRIDES: peer URL ftp://x:1: scheme ftp: is not supported (use http://host:port or https://host:port)',
    );
  });
});
