// The peer transport on real loopback ports: delivery and equality of every message type, order
// and batching under load, peers that go away and come back, cluster ID checks, snapshots, the
// queue bound, and a clean close.

import { connect, createServer, type Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';

import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';

import { EntryType, type Message, MessageType, message } from '../../src/raft/types.js';
import { PeerTransport, type PeerTransportOptions } from '../../src/transport/peer-transport.js';
import { peerServiceDefinition, type WireAck, type WireMessageBatch } from '../../src/transport/raft-proto.js';
import { TransportError, TransportErrorCode } from '../../src/transport/transport-error.js';
import { freePorts } from '../api/free-port.js';
import { clusterId, everyType, ids, patternBytes, Recorder, until } from './fixtures.js';

interface Member {
  readonly id: string;
  readonly url: string;
  readonly recorder: Recorder;
  transport: PeerTransport;
}

const open: PeerTransport[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

function transport(id: string, recorder: Recorder, extra: Partial<PeerTransportOptions> = {}): PeerTransport {
  const t = new PeerTransport({ selfId: id, clusterId, handler: recorder, ...extra });
  open.push(t);
  return t;
}

/** Members on free ports, listening, each knowing all the others. */
async function cluster(memberIds: readonly string[], extra: Partial<PeerTransportOptions> = {}): Promise<Member[]> {
  const ports = await freePorts(memberIds.length);
  const members = memberIds.map((id, i) => {
    const recorder = new Recorder();
    return { id, url: `http://127.0.0.1:${ports[i]}`, recorder, transport: transport(id, recorder, extra) };
  });
  for (const m of members) await m.transport.listen(m.url);
  for (const m of members) {
    for (const peer of members) if (peer !== m) m.transport.addPeer(peer.id, [peer.url]);
  }
  for (const m of members) {
    for (const peer of members) {
      if (peer !== m) await until(() => m.transport.isActive(peer.id), `${m.id} -> ${peer.id} active`);
    }
  }
  return members;
}

function app(from: string, to: string, index: number, data: Uint8Array = new Uint8Array(0)): Message {
  return message({ type: MessageType.App, from, to, term: 2, logTerm: 2, index, commit: index, entries: [{ term: 2, index: index + 1, type: EntryType.Normal, data }] });
}

function indexes(messages: readonly Message[]): number[] {
  return messages.map((m) => m.index);
}

describe('peer transport', () => {
  it('three members exchange every message type, equal field for field, in order', async () => {
    const members = await cluster([ids.a, ids.b, ids.c]);
    const sent = new Map<string, Message[]>();
    let base = 0;
    for (const from of members) {
      for (const to of members) {
        if (from === to) continue;
        const batch = everyType(from.id, to.id, (base += 1000));
        sent.set(`${from.id}->${to.id}`, batch);
        from.transport.send(batch);
      }
    }
    for (const to of members) {
      for (const from of members) {
        if (from === to) continue;
        const expected = sent.get(`${from.id}->${to.id}`) ?? [];
        await until(() => to.recorder.from(from.id).length === expected.length, `${from.id} -> ${to.id} delivery`);
        // Snap goes on its own call, so it may overtake or trail the stream; everything else is in order.
        const received = to.recorder.from(from.id);
        const notSnap = (m: Message) => m.type !== MessageType.Snap;
        expect(received.filter(notSnap)).toStrictEqual(expected.filter(notSnap));
        expect(received.filter((m) => !notSnap(m))).toStrictEqual(expected.filter((m) => !notSnap(m)));
      }
    }
    for (const m of members) {
      await until(() => m.recorder.snapshotStatus.length === 2, `${m.id} snapshot statuses`);
      expect(m.recorder.snapshotStatus.every(([, ok]) => ok)).toBe(true);
      expect(m.recorder.unreachable).toEqual([]);
      expect(m.transport.activeSince(members.find((p) => p !== m)?.id ?? '')).toBeLessThanOrEqual(Date.now());
    }
  });

  it('keeps order per sender under load and batches what queues up meanwhile', async () => {
    const [a, b, c] = await cluster([ids.a, ids.b, ids.c], { maxQueuedPerPeer: 20_000 });
    if (a === undefined || b === undefined || c === undefined) throw new Error('cluster');
    const before = a.transport.stats();
    // One synchronous burst, then bursts spread over turns of the event loop, from two senders at once.
    for (let i = 0; i < 5_000; i++) a.transport.send([app(a.id, b.id, i, patternBytes(i % 200, i))]);
    for (let i = 0; i < 5_000; i++) c.transport.send([app(c.id, b.id, i)]);
    for (let burst = 0; burst < 50; burst++) {
      const messages: Message[] = [];
      for (let i = 0; i < 100; i++) messages.push(app(a.id, b.id, 5_000 + burst * 100 + i, patternBytes(i, burst)));
      a.transport.send(messages);
      c.transport.send(messages.map((m) => ({ ...m, from: c.id, entries: [] })));
      await nextTurn();
    }
    await until(() => b.recorder.from(a.id).length === 10_000 && b.recorder.from(c.id).length === 10_000, '10,000 from each');
    const expectedOrder = Array.from({ length: 10_000 }, (_, i) => i);
    expect(indexes(b.recorder.from(a.id))).toEqual(expectedOrder);
    expect(indexes(b.recorder.from(c.id))).toEqual(expectedOrder);
    expect(b.recorder.from(a.id)[4321]?.entries[0]?.data).toEqual(patternBytes(4321 % 200, 4321));

    const after = a.transport.stats();
    const writes = after.streamWrites - before.streamWrites;
    const sent = after.messagesSent - before.messagesSent;
    expect(sent).toBe(10_000);
    expect(writes).toBeLessThan(sent / 20);
    expect(after.droppedQueueFull + after.droppedUnreachable).toBe(0);
    console.log(`batching: ${sent} messages in ${writes} stream writes`);
  });

  it('reports a peer that goes away, and talks to it again when it comes back on the same port', async () => {
    const [a, b] = await cluster([ids.a, ids.b]);
    if (a === undefined || b === undefined) throw new Error('cluster');
    a.transport.send([app(a.id, b.id, 1)]);
    await until(() => b.recorder.messages.length === 1, 'first message');

    await b.transport.close();
    await until(() => a.recorder.unreachable.includes(b.id), 'onUnreachable after the peer closed');
    expect(a.transport.isActive(b.id)).toBe(false);
    expect(a.transport.activeSince(b.id)).toBeUndefined();
    // While it is gone, sends are dropped (and counted), never queued without bound.
    a.transport.send([app(a.id, b.id, 2)]);

    const recorder = new Recorder();
    const back = transport(b.id, recorder);
    await back.listen(b.url);
    back.addPeer(a.id, [a.url]);
    // No intervention: a keeps retrying on its own; Raft would keep sending heartbeats meanwhile.
    await until(() => a.transport.isActive(b.id), 'a reconnects to the restarted peer');
    a.transport.send([app(a.id, b.id, 3)]);
    back.send([app(b.id, a.id, 4)]);
    await until(() => recorder.messages.length === 1 && a.recorder.messages.length === 1, 'messages after restart');
    expect(indexes(recorder.messages)).toEqual([3]);
    expect(indexes(a.recorder.messages)).toEqual([4]);
    expect(a.transport.stats().streamBreaks).toBeGreaterThanOrEqual(1);
  });

  it('reconnects at once, not after its backoff, when the peer that went away opens a stream to it', async () => {
    // A backoff longer than the test: only the peer's own stream can bring the link back in time
    // (a leader would otherwise send a restarted follower nothing for up to 2 s).
    const [a, b] = await cluster([ids.a, ids.b], { reconnectBackoff: { initialMs: 60_000, maxMs: 60_000 } });
    if (a === undefined || b === undefined) throw new Error('cluster');
    await b.transport.close();
    await until(() => a.recorder.unreachable.includes(b.id), 'onUnreachable after the peer closed');
    const back = transport(b.id, new Recorder());
    await back.listen(b.url);
    back.addPeer(a.id, [a.url]);
    await until(() => back.isActive(a.id), 'the restarted peer reaches a');
    await until(() => a.transport.isActive(b.id), 'a reconnects to the restarted peer');
  });

  it('gives up on a peer that accepts connections but never answers, after dialTimeoutMs', async () => {
    const sockets: Socket[] = [];
    const blackHole = createServer((socket) => sockets.push(socket));
    const [port] = await freePorts(1);
    await new Promise<void>((resolve) => blackHole.listen(port, '127.0.0.1', resolve));
    try {
      const recorder = new Recorder();
      const t = transport(ids.a, recorder, { dialTimeoutMs: 300 });
      t.addPeer(ids.d, [`http://127.0.0.1:${port}`]);
      t.send([app(ids.a, ids.d, 1)]);
      await until(() => recorder.unreachable.includes(ids.d), 'onUnreachable after the dial timeout', 5_000);
      expect(t.isActive(ids.d)).toBe(false);
      expect(t.stats()).toMatchObject({ droppedUnreachable: 1 });
      expect(t.stats().streamBreaks).toBeGreaterThanOrEqual(1);
      await t.close();
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackHole.close(resolve));
    }
  });

  it('refuses a member of another cluster, naming both cluster IDs', async () => {
    const [portA, portX] = await freePorts(2);
    const urlA = `http://127.0.0.1:${portA}`;
    const urlX = `http://127.0.0.1:${portX}`;
    const a = new Recorder();
    const x = new Recorder();
    const ta = transport(ids.a, a);
    const tx = new PeerTransport({ selfId: ids.b, clusterId: '00000000deadbeef', handler: x });
    open.push(tx);
    await ta.listen(urlA);
    await tx.listen(urlX);
    tx.addPeer(ids.a, [urlA]);
    tx.send([app(ids.b, ids.a, 1)]);
    await until(() => x.unreachable.includes(ids.a), 'the rejected sender is told the peer is unreachable');
    await until(() => ta.stats().rejected >= 1, 'the receiver counted the refusal');
    expect(a.messages).toEqual([]);
    expect(tx.isActive(ids.a)).toBe(false);

    // What the sender sees on the wire.
    const method = peerServiceDefinition().Stream;
    if (method === undefined) throw new Error('no Stream method');
    const client = new grpc.Client(`127.0.0.1:${portA}`, grpc.credentials.createInsecure());
    try {
      const status = await new Promise<grpc.ServiceError | null>((resolve) => {
        const call = client.makeClientStreamRequest<WireMessageBatch, WireAck>(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          (err) => resolve(err),
        );
        call.write({ clusterId: '00000000deadbeef', from: ids.b, to: ids.a, messages: [] });
      });
      expect(status?.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(status?.details).toContain('00000000deadbeef');
      expect(status?.details).toContain(clusterId);

      // Right cluster, but addressed to a member that does not live here.
      const wrongMember = await new Promise<grpc.ServiceError | null>((resolve) => {
        const call = client.makeClientStreamRequest<WireMessageBatch, WireAck>(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          (err) => resolve(err),
        );
        call.write({ clusterId, from: ids.b, to: ids.c, messages: [] });
      });
      expect(wrongMember?.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(wrongMember?.details).toContain(ids.c);
    } finally {
      client.close();
    }
    expect(a.messages).toEqual([]);
  });

  it('delivers a 20 MB snapshot while heartbeats keep flowing, and fails one to a dead peer', async () => {
    const [a, b] = await cluster([ids.a, ids.b]);
    if (a === undefined || b === undefined) throw new Error('cluster');
    const data = patternBytes(20 * 1024 * 1024, 42);
    const snapshot = { metadata: { index: 5000, term: 9, confState: { voters: [ids.a, ids.b], learners: [] } }, data };
    a.transport.send([message({ type: MessageType.Snap, from: a.id, to: b.id, term: 9, snapshot })]);
    for (let i = 0; i < 20; i++) {
      a.transport.send([message({ type: MessageType.Heartbeat, from: a.id, to: b.id, term: 9, commit: i })]);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await until(() => a.recorder.snapshotStatus.length === 1, 'snapshot status', 60_000);
    expect(a.recorder.snapshotStatus).toEqual([[b.id, true]]);
    const snaps = b.recorder.messages.filter((m) => m.type === MessageType.Snap);
    expect(snaps).toHaveLength(1);
    const got = snaps[0]?.snapshot;
    expect(got?.metadata).toEqual(snapshot.metadata);
    expect(got?.data.length).toBe(data.length);
    expect(Buffer.compare(Buffer.from(got?.data ?? []), Buffer.from(data))).toBe(0);
    await until(() => b.recorder.messages.filter((m) => m.type === MessageType.Heartbeat).length === 20, 'heartbeats');

    // A peer with nothing listening on its URL.
    const [deadPort] = await freePorts(1);
    a.transport.addPeer(ids.d, [`http://127.0.0.1:${deadPort}`]);
    a.transport.send([message({ type: MessageType.Snap, from: a.id, to: ids.d, term: 9, snapshot })]);
    await until(() => a.recorder.snapshotStatus.length === 2, 'failed snapshot status');
    expect(a.recorder.snapshotStatus[1]).toEqual([ids.d, false]);
    expect(a.recorder.unreachable).toContain(ids.d);
    expect(a.transport.stats()).toMatchObject({ snapshotsSent: 1, snapshotsFailed: 1 });
  });

  it('drops messages to unknown peers and to itself, and counts them', async () => {
    const [a, b] = await cluster([ids.a, ids.b]);
    if (a === undefined || b === undefined) throw new Error('cluster');
    a.transport.send([app(a.id, ids.c, 1), app(a.id, a.id, 2), app(a.id, b.id, 3)]);
    await until(() => b.recorder.messages.length === 1, 'the one known message');
    expect(a.transport.stats().droppedUnknownPeer).toBe(2);
    a.transport.removePeer(b.id);
    a.transport.send([app(a.id, b.id, 4)]);
    expect(a.transport.stats().droppedUnknownPeer).toBe(3);
    expect(a.transport.isActive(b.id)).toBe(false);
  });

  it('send never throws, even for messages that cannot be encoded', async () => {
    const [a, b] = await cluster([ids.a, ids.b]);
    if (a === undefined || b === undefined) throw new Error('cluster');
    expect(() => a.transport.send([app(a.id, b.id, 2 ** 60), app(a.id, b.id, 7)])).not.toThrow();
    await until(() => b.recorder.messages.length === 1, 'the valid message');
    expect(indexes(b.recorder.messages)).toEqual([7]);
    expect(a.transport.stats().droppedInvalid).toBe(1);
  });

  it('follows a peer to new URLs, keeping the stream while its URL is still listed', async () => {
    const [a, b] = await cluster([ids.a, ids.b]);
    if (a === undefined || b === undefined) throw new Error('cluster');
    const since = a.transport.activeSince(b.id);
    const [spare] = await freePorts(1);
    a.transport.updatePeer(b.id, [b.url, `http://127.0.0.1:${spare}`]);
    expect(a.transport.activeSince(b.id)).toBe(since);

    // b moves: a new transport on a new port.
    await b.transport.close();
    const recorder = new Recorder();
    const moved = transport(b.id, recorder);
    const [newPort] = await freePorts(1);
    await moved.listen(`http://127.0.0.1:${newPort}`);
    a.transport.updatePeer(b.id, [`http://127.0.0.1:${newPort}`]);
    await until(() => a.transport.isActive(b.id), 'active on the new URL');
    a.transport.send([app(a.id, b.id, 9)]);
    await until(() => recorder.messages.length === 1, 'delivery at the new URL');
  });

  it('listen refuses a port that is taken and URLs it cannot serve', async () => {
    const [port] = await freePorts(1);
    const first = transport(ids.a, new Recorder());
    await first.listen(`http://127.0.0.1:${port}`);
    const second = transport(ids.b, new Recorder());
    const err = await second.listen(`http://127.0.0.1:${port}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).code).toBe(TransportErrorCode.ListenFailed);
    expect((err as TransportError).message).toContain(`http://127.0.0.1:${port}`);
    expect((err as TransportError).message).toMatch(/EADDRINUSE|in use/i);

    await expect(second.listen('ftp://127.0.0.1:2380')).rejects.toMatchObject({ code: TransportErrorCode.InvalidUrl });
    // https:// needs this member's peer certificate.
    await expect(second.listen('https://127.0.0.1:2380')).rejects.toMatchObject({
      code: TransportErrorCode.ListenFailed,
      message: expect.stringContaining('needs --peer-cert-file and --peer-key-file') as unknown as string,
    });
    await expect(first.listen(`http://127.0.0.1:${port}`)).rejects.toMatchObject({ code: TransportErrorCode.InvalidState });
  });

  it('listens on several URLs (--listen-peer-urls with more than one)', async () => {
    const [p1, p2, p3] = await freePorts(3);
    const recorder = new Recorder();
    const multi = transport(ids.b, recorder);
    await multi.listen(`http://127.0.0.1:${p1}`);
    await multi.listen(`http://localhost:${p2}`);
    const a = transport(ids.a, new Recorder());
    await a.listen(`http://127.0.0.1:${p3}`);
    a.addPeer(ids.b, [`http://localhost:${p2}`]);
    a.send([app(ids.a, ids.b, 1)]);
    await until(() => recorder.messages.length === 1, 'delivery on the second URL');
    a.updatePeer(ids.b, [`http://127.0.0.1:${p1}`]);
    a.send([app(ids.a, ids.b, 2)]);
    await until(() => recorder.messages.length === 2, 'delivery on the first URL');
    expect(indexes(recorder.messages)).toEqual([1, 2]);
  });

  it('maxConnections: one more inbound connection is closed at once; held ones work and a closed one frees its slot', async () => {
    const [portA, portB] = await freePorts(2);
    const recorder = new Recorder();
    const b = transport(ids.b, recorder, { maxConnections: 2 });
    await b.listen(`http://127.0.0.1:${portB}`);
    const hogs: Socket[] = [];
    const dial = (): Socket => {
      const s = connect(portB, '127.0.0.1');
      s.on('error', () => {});
      return s;
    };
    for (let i = 0; i < 2; i++) hogs.push(dial());
    await until(() => b.connectionStats().open === 2, 'two held connections');

    const extra = dial();
    await new Promise<void>((resolve) => extra.once('close', () => resolve()));
    expect(b.connectionStats()).toEqual({ open: 2, refusedTotal: 1 });

    // A real peer cannot get in while the slots are held...
    const a = transport(ids.a, new Recorder(), { dialTimeoutMs: 300 });
    await a.listen(`http://127.0.0.1:${portA}`);
    a.addPeer(ids.b, [`http://127.0.0.1:${portB}`]);
    a.send([app(ids.a, ids.b, 1)]);
    await until(() => b.connectionStats().refusedTotal >= 2, 'the peer refused too');
    expect(recorder.messages).toHaveLength(0);
    // ...and gets in once one is closed.
    hogs.pop()?.destroy();
    await until(() => a.isActive(ids.b), 'active after a slot freed');
    a.send([app(ids.a, ids.b, 2)]);
    await until(() => recorder.messages.length >= 1, 'delivery through the freed slot');
    expect(indexes(recorder.messages)).toContain(2);
    for (const s of hogs) s.destroy();
  });

  it('addPeer never throws: a peer whose URLs cannot be dialled gets nothing, and Raft is told', async () => {
    const recorder = new Recorder();
    const t = transport(ids.a, recorder);
    // It runs when a conf change is applied; a bad URL in the log must not stop the apply loop.
    expect(() => t.addPeer(ids.c, ['ftp://127.0.0.1:2380', 'not a url'])).not.toThrow();
    t.send([app(ids.a, ids.c, 1)]);
    t.send([message({ type: MessageType.Snap, from: ids.a, to: ids.c, term: 1, snapshot: { metadata: { index: 1, term: 1, confState: { voters: [ids.a], learners: [] } }, data: new Uint8Array(8) } })]);
    await until(() => recorder.snapshotStatus.length === 1, 'snapshot status');
    expect(recorder.snapshotStatus).toEqual([[ids.c, false]]);
    expect(recorder.unreachable).toContain(ids.c);
    expect(t.stats().droppedUnreachable).toBe(1);
    expect(t.isActive(ids.c)).toBe(false);
  });

  it('close releases the port and every handle', async () => {
    const baseline = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout' && r !== 'Immediate');
    const [a, b] = await cluster([ids.a, ids.b]);
    if (a === undefined || b === undefined) throw new Error('cluster');
    a.transport.send([app(a.id, b.id, 1)]);
    await until(() => b.recorder.messages.length === 1, 'delivery');
    await a.transport.close();
    await b.transport.close();
    await a.transport.close();
    // The same port can be bound again at once.
    const again = transport(ids.a, new Recorder());
    await again.listen(a.url);
    await again.close();
    await until(
      () => process.getActiveResourcesInfo().filter((r) => r !== 'Timeout' && r !== 'Immediate').length <= baseline.length,
      'sockets and servers closed',
      5_000,
    );
    // Nothing is called after close (b heard of a's close before its own, which is right).
    const calls = a.recorder.unreachable.length + b.recorder.unreachable.length;
    a.transport.send([app(a.id, b.id, 2)]);
    b.transport.send([app(b.id, a.id, 3)]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(a.recorder.unreachable.length + b.recorder.unreachable.length).toBe(calls);
    expect(a.recorder.unreachable).toEqual([]);
  });
});
