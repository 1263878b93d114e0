/**
 * A watcher process for the watch-latency benchmark (forked by row-watch.ts, IPC with structured
 * clone). It opens `count` Watch streams, each its own gRPC stream carrying one watch on the
 * benchmark prefix, spread round-robin over one HTTP/2 connection per member; it stamps every
 * event with CLOCK_MONOTONIC on arrival and hands the stamps back when told the last revision.
 *
 * Protocol: parent → {type:'start'} → worker opens and creates every watch → {type:'ready'};
 * parent writes, then → {type:'finish', lastRevision} → worker waits until every watcher saw it
 * (or timeoutMs) → {type:'result'}; parent → {type:'exit'}.
 */
import { GrpcConnection, type GrpcStream } from './h2-grpc-client.js';
import { decodeWatchResponse, paths, watchCreateRequest } from './grpc-wire.js';
import { monoUs } from './stats.js';

export interface WatchWorkerStart {
  type: 'start';
  endpoints: string[];
  /** Global index of this worker's first watcher: watcher g goes to endpoints[g % endpoints.length]. */
  firstIndex: number;
  count: number;
  key: Buffer;
  rangeEnd: Buffer;
  createTimeoutMs: number;
}

export interface WatchWorkerFinish {
  type: 'finish';
  lastRevision: number;
  timeoutMs: number;
}

export interface WatcherRecord {
  /** Index into endpoints. */
  endpoint: number;
  /** Event mod_revisions in arrival order. */
  revisions: Float64Array;
  /** Arrival time of each (CLOCK_MONOTONIC µs). */
  receivedUs: Float64Array;
  /** Set when the server cancelled the watch or the stream ended. */
  ended: string | undefined;
}

export type WatchWorkerReply =
  | { type: 'ready'; createMs: number }
  | { type: 'result'; watchers: WatcherRecord[] }
  | { type: 'error'; message: string };

interface Watcher {
  endpoint: number;
  created: boolean;
  revisions: number[];
  receivedUs: number[];
  lastRevision: number;
  ended: string | undefined;
}

const watchers: Watcher[] = [];
const streams: GrpcStream[] = [];
const connections: GrpcConnection[] = [];

function reply(msg: WatchWorkerReply): void {
  process.send?.(msg);
}

async function start(msg: WatchWorkerStart): Promise<void> {
  const t0 = performance.now();
  for (const url of msg.endpoints) connections.push(new GrpcConnection(url));
  let createdCount = 0;
  let onAllCreated: () => void = () => undefined;
  const allCreated = new Promise<void>((resolve) => {
    onAllCreated = resolve;
  });
  for (let i = 0; i < msg.count; i++) {
    const endpoint = (msg.firstIndex + i) % msg.endpoints.length;
    const conn = connections[endpoint] as GrpcConnection;
    const w: Watcher = { endpoint, created: false, revisions: [], receivedUs: [], lastRevision: 0, ended: undefined };
    const stream = conn.stream(paths.watch, (message) => {
      const t = monoUs();
      const m = decodeWatchResponse(message);
      if (m.created && !w.created) {
        w.created = true;
        createdCount++;
        if (createdCount === msg.count) onAllCreated();
      }
      if (m.canceled) w.ended = `canceled: ${m.cancelReason}`;
      for (const rev of m.eventRevisions) {
        w.revisions.push(rev);
        w.receivedUs.push(t);
        w.lastRevision = rev;
      }
    });
    void stream.closed.then((s) => {
      w.ended ??= `stream closed: grpc-status ${s.status} ${s.message}`;
    });
    stream.send(watchCreateRequest(Buffer.from(msg.key), Buffer.from(msg.rangeEnd)));
    watchers.push(w);
    streams.push(stream);
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), msg.createTimeoutMs);
  });
  const outcome = await Promise.race([allCreated, timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    const ended = watchers.find((w) => w.ended !== undefined)?.ended;
    throw new Error(`only ${createdCount} of ${msg.count} watches created within ${msg.createTimeoutMs} ms${ended !== undefined ? ` (${ended})` : ''}`);
  }
  reply({ type: 'ready', createMs: performance.now() - t0 });
}

async function finish(msg: WatchWorkerFinish): Promise<void> {
  const deadline = performance.now() + msg.timeoutMs;
  while (performance.now() < deadline && watchers.some((w) => w.lastRevision < msg.lastRevision && w.ended === undefined)) {
    await new Promise((r) => setTimeout(r, 10));
  }
  reply({
    type: 'result',
    watchers: watchers.map((w) => ({
      endpoint: w.endpoint,
      revisions: Float64Array.from(w.revisions),
      receivedUs: Float64Array.from(w.receivedUs),
      ended: w.ended,
    })),
  });
}

function exit(): void {
  for (const stream of streams) stream.cancel();
  for (const c of connections) c.close();
  process.exit(0);
}

process.on('message', (raw: WatchWorkerStart | WatchWorkerFinish | { type: 'exit' }) => {
  const run = raw.type === 'start' ? start(raw) : raw.type === 'finish' ? finish(raw) : Promise.resolve(exit());
  run.catch((error: unknown) => reply({ type: 'error', message: error instanceof Error ? error.message : String(error) }));
});
process.on('disconnect', () => process.exit(0));
