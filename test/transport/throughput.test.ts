// Measures messages per second between two transports in one process (both ends share the one
// thread), for small App messages and for Heartbeats. Reported, not asserted: tests never assert
// tight timings. Its own file so it runs in a fresh process.

import { setImmediate as nextTurn } from 'node:timers/promises';

import { expect, it } from 'vitest';

import { EntryType, type Message, MessageType, message } from '../../src/raft/types.js';
import { PeerTransport } from '../../src/transport/peer-transport.js';
import { freePorts } from '../api/free-port.js';
import { clusterId, ids, patternBytes, Recorder, until } from './fixtures.js';

/** Sends `total` messages from a to b, keeping at most `window` unreceived (as Raft's inflight limit does). */
async function pump(
  a: PeerTransport,
  b: Recorder,
  total: number,
  make: (i: number) => Message,
): Promise<{ seconds: number; writes: number }> {
  const window = 3_000;
  const chunk = 200;
  const start = b.messages.length;
  const writesBefore = a.stats().streamWrites;
  const t0 = process.hrtime.bigint();
  let sent = 0;
  while (sent < total) {
    const received = b.messages.length - start;
    if (sent - received < window) {
      const batch: Message[] = [];
      for (let i = 0; i < chunk && sent < total; i++) batch.push(make(sent++));
      a.send(batch);
    }
    await nextTurn();
  }
  await until(() => b.messages.length - start === total, 'all messages', 120_000);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds, writes: a.stats().streamWrites - writesBefore };
}

it('measures messages/s for small App messages and heartbeats between two transports', async () => {
  const [portA, portB] = await freePorts(2);
  const a = new Recorder();
  const b = new Recorder();
  const ta = new PeerTransport({ selfId: ids.a, clusterId, handler: a });
  const tb = new PeerTransport({ selfId: ids.b, clusterId, handler: b });
  try {
    await ta.listen(`http://127.0.0.1:${portA}`);
    await tb.listen(`http://127.0.0.1:${portB}`);
    ta.addPeer(ids.b, [`http://127.0.0.1:${portB}`]);
    await until(() => ta.isActive(ids.b), 'stream up');

    const data = patternBytes(64, 1);
    const appMessage = (i: number) =>
      message({ type: MessageType.App, from: ids.a, to: ids.b, term: 3, logTerm: 3, index: 1000 + i, commit: 1000 + i, entries: [{ term: 3, index: 1001 + i, type: EntryType.Normal, data }] });
    const heartbeat = (i: number) => message({ type: MessageType.Heartbeat, from: ids.a, to: ids.b, term: 3, commit: 1000 + i });

    await pump(ta, b, 20_000, appMessage); // warm-up (JIT, connection windows)
    const total = 200_000;
    const apps = await pump(ta, b, total, appMessage);
    const beats = await pump(ta, b, total, heartbeat);

    const received = b.messages.slice(-2 * total);
    expect(received.slice(0, total).map((m) => m.index)).toEqual(Array.from({ length: total }, (_, i) => 1000 + i));
    expect(b.messages.at(-1)?.commit).toBe(1000 + total - 1);
    const line = (name: string, r: { seconds: number; writes: number }) =>
      `${name}: ${Math.round(total / r.seconds).toLocaleString('en-US')} msg/s ` +
      `(${total} in ${r.seconds.toFixed(2)} s, ${r.writes} stream writes, ${(total / r.writes).toFixed(0)} msg/write)`;
    console.log(`throughput, one process, both ends on one thread\n  ${line('App, 1 entry of 64 B', apps)}\n  ${line('Heartbeat', beats)}`);
  } finally {
    await ta.close();
    await tb.close();
  }
});
