// Backpressure: a peer that is down must not make the sender's memory grow with what it is sent.
// In its own file so the memory measurement runs in a fresh process.

import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';

import { expect, it } from 'vitest';

import { EntryType, MessageType, message } from '../../src/raft/types.js';
import { PeerTransport } from '../../src/transport/peer-transport.js';
import { freePorts } from '../api/free-port.js';
import { clusterId, ids, Recorder, until } from './fixtures.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Live heap and buffer bytes after letting pending closes finish and collecting twice. */
async function liveBytes(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    gc();
  }
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

it('100k messages to a dead peer stay within maxQueuedPerPeer and do not grow memory', async () => {
  const [deadPort] = await freePorts(1);
  const recorder = new Recorder();
  const t = new PeerTransport({ selfId: ids.a, clusterId, handler: recorder });
  try {
    const before = await liveBytes();
    // Added just before the burst, so the whole burst meets the first dial still in progress.
    t.addPeer(ids.d, [`http://127.0.0.1:${deadPort}`]);
    // Each message carries its own 1 KiB entry: kept, 100k of them would be over 100 MiB.
    for (let i = 0; i < 100_000; i++) {
      const data = new Uint8Array(1024).fill(i & 0xff);
      t.send([message({ type: MessageType.App, from: ids.a, to: ids.d, term: 1, index: i, entries: [{ term: 1, index: i + 1, type: EntryType.Normal, data }] })]);
    }
    // Measured at once, while the queue is at its fullest (the dial has not failed yet).
    const queued = t.queueLength(ids.d);
    gc();
    const usage = process.memoryUsage();
    const grownBytes = usage.heapUsed + usage.arrayBuffers - before;

    expect(queued).toBeLessThanOrEqual(4096);
    const stats = t.stats();
    expect(stats.droppedQueueFull).toBeGreaterThanOrEqual(100_000 - 4096);
    // The bound: maxQueuedPerPeer messages plus one batch in grpc-js (up to batchBytesMax = 4 MiB,
    // as objects and encoded), about 15 MiB here; kept without a bound it would be over 100 MiB.
    expect(grownBytes).toBeLessThan(32 * 1024 * 1024);
    // Told once, not once per dropped message.
    await until(() => recorder.unreachable.length > 0, 'onUnreachable');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(recorder.unreachable).toEqual([ids.d]);
    // When the dial fails the queue goes too.
    await until(() => t.queueLength(ids.d) === 0, 'queue dropped after the dial failed');
    console.log(
      `queue bound: ${queued} of 100000 queued, ${stats.droppedQueueFull} dropped; ` +
        `heap+buffers grew ${(grownBytes / 1024 / 1024).toFixed(1)} MiB`,
    );
  } finally {
    await t.close();
  }
});
