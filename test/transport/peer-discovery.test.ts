// A joining member learns the cluster ID and membership from running members' peer URLs.

import { afterEach, describe, expect, it } from 'vitest';

import { type ClusterMember, discoverCluster } from '../../src/transport/peer-discovery.js';
import { PeerTransport } from '../../src/transport/peer-transport.js';
import { freePorts } from '../api/free-port.js';
import { clusterId, ids, Recorder } from './fixtures.js';

const open: PeerTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

const members: ClusterMember[] = [
  { id: ids.a, name: 'n1', peerURLs: ['http://127.0.0.1:2380'], clientURLs: ['http://127.0.0.1:2379'], isLearner: false },
  { id: ids.b, name: 'n2', peerURLs: ['http://127.0.0.1:2381', 'http://10.0.0.2:2380'], clientURLs: [], isLearner: false },
  { id: ids.d, name: '', peerURLs: ['http://127.0.0.1:2390'], clientURLs: [], isLearner: true },
];

describe('peer discovery', () => {
  it('asks every peer URL and takes the first answer, skipping dead and unwilling peers', async () => {
    const [portA, portB, deadPort] = await freePorts(3);
    const a = new PeerTransport({ selfId: ids.a, clusterId, handler: new Recorder(), members: () => members });
    const b = new PeerTransport({ selfId: ids.b, clusterId, handler: new Recorder() }); // serves no member list
    open.push(a, b);
    await a.listen(`http://127.0.0.1:${portA}`);
    await b.listen(`http://127.0.0.1:${portB}`);

    const found = await discoverCluster(
      [`http://127.0.0.1:${deadPort}`, `http://127.0.0.1:${portB}`, `http://127.0.0.1:${portA}`],
      { timeoutMs: 5_000 },
    );
    expect(found).toEqual({ clusterId, members });
    await expect(discoverCluster([`http://127.0.0.1:${portA}`], { timeoutMs: 5_000, clusterId })).resolves.toEqual({ clusterId, members });
  });

  it('fails, naming every URL, when no peer answers', async () => {
    const [portA, deadPort] = await freePorts(2);
    const a = new PeerTransport({ selfId: ids.a, clusterId, handler: new Recorder(), members: () => members });
    open.push(a);
    await a.listen(`http://127.0.0.1:${portA}`);

    const started = Date.now();
    const err = (await discoverCluster([`http://127.0.0.1:${deadPort}`, 'https://127.0.0.1:1'], { timeoutMs: 500 }).catch(
      (e: unknown) => e,
    )) as Error;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err.message).toContain(`http://127.0.0.1:${deadPort}`);
    expect(err.message).toContain('https://127.0.0.1:1');

    const mismatch = (await discoverCluster([`http://127.0.0.1:${portA}`], { timeoutMs: 2_000, clusterId: 'ffffffffffffffff' }).catch(
      (e: unknown) => e,
    )) as Error;
    expect(mismatch.message).toMatch(/FAILED_PRECONDITION.*ffffffffffffffff.*cdf818194e3a8c32/);
  });
});
