import { createServer, type Server, connect, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdServiceClients, etcdServiceDefinitions } from '../../src/api/etcd-proto.js';
import { KetchGrpcServer } from '../../src/api/grpc-h2/grpc-server.js';
import { Flag, FrameType, H2Error, PREFACE, settingsFrame, windowUpdateFrame } from '../../src/api/grpc-h2/h2-frames.js';
import { encodeHeaders } from '../../src/api/grpc-h2/hpack.js';

/**
 * The server end to end on loopback: a grpc-js client (as src/client and the etcd3 library use) for
 * the call kinds, and a raw socket for what clients must not do (malformed and random frames).
 * The services here are small echo handlers over the real etcd definitions; the real services
 * run over this server in test/integration, test/ctl etc. with KETCH_GRPC_SERVER=ketch.
 */

const MAX_MESSAGE_BYTES = 64 * 1024;
const BIG_CHUNK_BYTES = 256 * 1024;

type Msg = Record<string, unknown>;

let net: Server;
let grpcServer: KetchGrpcServer;
let port: number;
let clients: ReturnType<typeof etcdServiceClients>;
let lastCancelled: Promise<void>;
let signalCancelled: () => void;
const sockets = new Set<Socket>();

beforeAll(async () => {
  grpcServer = new KetchGrpcServer(pino({ level: 'silent' }), { maxReceiveMessageBytes: MAX_MESSAGE_BYTES, h2: { maxConcurrentStreams: 50 } });
  const defs = etcdServiceDefinitions();
  lastCancelled = new Promise((r) => (signalCancelled = r));
  grpcServer.addService(defs.KV, {
    // Echo: the value back as a kv; key "slow" never answers (for deadlines and cancellation).
    Range: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      const key = call.request.key as Buffer;
      if (key.toString() === 'slow') {
        call.on('cancelled', () => signalCancelled());
        return;
      }
      if (key.toString() === 'fail') return cb({ code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: bad — ünicode' } as grpc.ServiceError);
      if (key.toString() === 'throw') throw new Error('handler bug');
      if (key.toString().startsWith('big:')) return cb(null, { header: {}, kvs: [{ key, value: patterned(key.toString()) }], count: '1' });
      cb(null, { header: {}, kvs: [{ key, value: Buffer.from(call.metadata.get('x-echo')[0]?.toString() ?? '') }], count: '1' });
    },
    Put: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => cb(null, { header: { revision: String((call.request.value as Buffer).length) } }),
  });
  grpcServer.addService(defs.Maintenance, {
    // A large server stream: more than any window the client starts with.
    Snapshot: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      for (let i = 0; i < 40; i++) call.write({ remaining_bytes: String(39 - i), blob: Buffer.alloc(BIG_CHUNK_BYTES, i) });
      call.end();
    },
  });
  grpcServer.addService(defs.Watch, {
    // Bidi: each request's watch_id... answered with a response carrying the key as created.
    Watch: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      call.on('data', (req: Msg) => {
        const create = req.create_request as Msg | undefined;
        if (create === undefined) return;
        if ((create.key as Buffer).toString() === 'boom') {
          call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'etcdserver: no leader' });
          return;
        }
        call.write({ header: {}, watch_id: '1', created: true, events: [{ type: 'PUT', kv: { key: create.key, value: Buffer.alloc(1000) } }] });
      });
      call.on('end', () => call.end());
    },
  });
  net = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    grpcServer.handleConnection(socket, Buffer.alloc(0));
  });
  await new Promise<void>((r) => net.listen(0, '127.0.0.1', () => r()));
  port = (net.address() as { port: number }).port;
  clients = etcdServiceClients();
});

afterAll(async () => {
  await grpcServer.close(100);
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => net.close(() => r()));
});

function kv(): grpc.Client & Record<string, (...a: unknown[]) => unknown> {
  return new clients.KV(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
}

function unary(client: grpc.Client, method: string, req: Msg, opts: grpc.CallOptions = {}, md = new grpc.Metadata()): Promise<Msg> {
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, (r: Msg, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Msg) => void) => void>)[method]?.call(
      client,
      req,
      md,
      opts,
      (err, res) => (err === null ? resolve(res) : reject(err)),
    );
  });
}

/** 'big:<bytes>:<seed>' answers with <bytes> bytes that depend on the seed and the position. */
function patterned(spec: string): Buffer {
  const [, size, seed] = spec.split(':');
  const out = Buffer.alloc(Number(size));
  let x = Number(seed) || 1;
  for (let i = 0; i < out.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

describe('KetchGrpcServer with a grpc-js client', () => {
  it('answers concurrent unary calls with large responses byte for byte (payloads written as views, not copies)', async () => {
    const c = kv();
    const sizes = Array.from({ length: 40 }, (_, i) => [100, 16 * 1024 - 1, 16 * 1024, 20_000, 300_000, 700_000][i % 6] as number);
    const results = await Promise.all(sizes.map((n, i) => unary(c, 'Range', { key: Buffer.from(`big:${n}:${i + 1}`) })));
    results.forEach((r, i) => {
      const value = (r.kvs as Msg[])[0]?.value as Buffer;
      expect(value.length).toBe(sizes[i]);
      expect(value.equals(patterned(`big:${sizes[i]}:${i + 1}`)), `response ${i} of ${sizes[i]} bytes`).toBe(true);
    });
    c.close();
  });

  it('answers unary calls concurrently, with request metadata', async () => {
    const c = kv();
    const md = new grpc.Metadata();
    md.set('x-echo', 'hello');
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => unary(c, 'Range', { key: Buffer.from(`k${i}`) }, {}, md)));
    results.forEach((r, i) => {
      const kvs = r.kvs as Msg[];
      expect((kvs[0]?.key as Buffer).toString()).toBe(`k${i}`);
      expect((kvs[0]?.value as Buffer).toString()).toBe('hello');
    });
    c.close();
  });

  it('accepts a request larger than the stream window and refuses one above the message limit as etcd does', async () => {
    const c = kv();
    const ok = await unary(c, 'Put', { key: Buffer.from('k'), value: Buffer.alloc(MAX_MESSAGE_BYTES - 100) });
    expect((ok.header as Msg).revision).toBe(String(MAX_MESSAGE_BYTES - 100));
    const err = await unary(c, 'Put', { key: Buffer.from('k'), value: Buffer.alloc(MAX_MESSAGE_BYTES + 1) }).catch((e: grpc.ServiceError) => e);
    expect((err as grpc.ServiceError).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect((err as grpc.ServiceError).details).toMatch(/^grpc: received message larger than max \(\d+ vs\. 65536\)$/);
    // The connection is still good.
    expect(await unary(c, 'Range', { key: Buffer.from('after') })).toBeTruthy();
    c.close();
  });

  it('sends error statuses with their details (percent-encoded on the wire), handler throws become INTERNAL', async () => {
    const c = kv();
    const err = (await unary(c, 'Range', { key: Buffer.from('fail') }).catch((e) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(err.details).toBe('etcdserver: bad — ünicode');
    const thrown = (await unary(c, 'Range', { key: Buffer.from('throw') }).catch((e) => e)) as grpc.ServiceError;
    expect(thrown.code).toBe(grpc.status.INTERNAL);
    const unimpl = (await unary(c, 'Txn', {}).catch((e) => e)) as grpc.ServiceError;
    expect(unimpl.code).toBe(grpc.status.UNIMPLEMENTED);
    c.close();
  });

  it('ends a call at its deadline and tells the handler (grpc-timeout), and cancels on RST_STREAM', async () => {
    const c = kv();
    const started = Date.now();
    const err = (await unary(c, 'Range', { key: Buffer.from('slow') }, { deadline: Date.now() + 200 }).catch((e) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(2000);
    await lastCancelled;
    // Client-side cancel: the handler hears 'cancelled'.
    lastCancelled = new Promise((r) => (signalCancelled = r));
    const call = (c as unknown as Record<string, (r: Msg, cb: (e: unknown) => void) => grpc.ClientUnaryCall>).Range?.call(c, { key: Buffer.from('slow') }, () => undefined);
    await new Promise((r) => setTimeout(r, 50));
    call?.cancel();
    await lastCancelled;
    c.close();
  });

  it('streams 10 MB to a client within its flow-control windows', async () => {
    const m = new clients.Maintenance(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const stream = (m as unknown as { Snapshot(r: Msg): grpc.ClientReadableStream<Msg> }).Snapshot({});
    let bytes = 0;
    let chunks = 0;
    for await (const msg of stream as AsyncIterable<Msg>) {
      expect((msg.blob as Buffer)[0]).toBe(chunks);
      bytes += (msg.blob as Buffer).length;
      chunks++;
    }
    expect(chunks).toBe(40);
    expect(bytes).toBe(40 * BIG_CHUNK_BYTES);
    m.close();
  });

  it('carries bidirectional streams, and ends one with the status the handler emits', async () => {
    const w = new clients.Watch(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const call = (w as unknown as { Watch(): grpc.ClientDuplexStream<Msg, Msg> }).Watch();
    const got: string[] = [];
    const done = new Promise<grpc.StatusObject>((r) => call.on('status', r));
    call.on('data', (res: Msg) => got.push(((res.events as Msg[])[0]?.kv as Msg).key?.toString() ?? ''));
    for (let i = 0; i < 100; i++) call.write({ create_request: { key: Buffer.from(`w${i}`) } });
    call.end();
    const status = await done;
    expect(status.code).toBe(grpc.status.OK);
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => `w${i}`));

    const failing = (w as unknown as { Watch(): grpc.ClientDuplexStream<Msg, Msg> }).Watch();
    failing.on('data', () => undefined);
    const failed = new Promise<grpc.ServiceError>((r) => failing.on('error', r));
    failing.write({ create_request: { key: Buffer.from('boom') } });
    const e = await failed;
    expect(e.code).toBe(grpc.status.UNAVAILABLE);
    expect(e.details).toBe('etcdserver: no leader');
    w.close();
  });
});

// ---- Raw frames.

interface RawFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

function rawFrame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** Opens a raw connection, sends bytes, and collects frames until the server closes or timeoutMs. */
function exchange(bytes: Buffer, timeoutMs = 300): Promise<{ frames: RawFrame[]; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let closed = false;
    s.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
    s.on('error', () => undefined);
    s.on('close', () => {
      closed = true;
      finish();
    });
    s.write(bytes);
    const timer = setTimeout(finish, timeoutMs);
    let finished = false;
    function finish(): void {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      s.destroy();
      const frames: RawFrame[] = [];
      let off = 0;
      while (buf.length - off >= 9) {
        const len = buf.readUIntBE(off, 3);
        if (buf.length - off < 9 + len) break;
        frames.push({ type: buf[off + 3] as number, flags: buf[off + 4] as number, streamId: buf.readUInt32BE(off + 5), payload: buf.subarray(off + 9, off + 9 + len) });
        off += 9 + len;
      }
      resolve({ frames, closed });
    }
  });
}

const HELLO = Buffer.concat([PREFACE, settingsFrame([])]);

function requestHeaders(streamId: number, authority: string, path = '/etcdserverpb.KV/Range'): Buffer {
  const block = encodeHeaders([
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', path],
    [':authority', authority],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
  ]);
  return rawFrame(FrameType.HEADERS, Flag.END_HEADERS, streamId, block);
}

function goawayCode(frames: RawFrame[]): number | undefined {
  const g = frames.find((f) => f.type === FrameType.GOAWAY);
  return g?.payload.readUInt32BE(4);
}

describe('KetchGrpcServer with raw HTTP/2 frames', () => {
  it("serves etcdctl 3.4's :authority http://host:port (no rewriting needed)", async () => {
    // Range { key: "a" }: field 1, length 1.
    const message = Buffer.from([0, 0, 0, 0, 3, 0x0a, 1, 0x61]);
    const { frames } = await exchange(
      Buffer.concat([HELLO, requestHeaders(1, 'http://127.0.0.1:2379'), rawFrame(FrameType.DATA, Flag.END_STREAM, 1, message)]),
    );
    const data = frames.filter((f) => f.type === FrameType.DATA && f.streamId === 1);
    expect(data.length).toBe(1);
    const trailers = frames.filter((f) => f.type === FrameType.HEADERS && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0);
    expect(trailers.length).toBe(1);
  });

  it('answers PING with an ACK carrying the same payload, and SETTINGS with an ACK', async () => {
    const payload = Buffer.from('12345678');
    const { frames } = await exchange(Buffer.concat([HELLO, rawFrame(FrameType.PING, 0, 0, payload)]));
    const ack = frames.find((f) => f.type === FrameType.PING);
    expect(ack?.flags).toBe(Flag.ACK);
    expect(ack?.payload.equals(payload)).toBe(true);
    expect(frames.some((f) => f.type === FrameType.SETTINGS && f.flags === Flag.ACK)).toBe(true);
  });

  it('closes with GOAWAY and the right error code on protocol violations', async () => {
    const cases: Array<[string, Buffer, number]> = [
      ['bad preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'), H2Error.PROTOCOL_ERROR],
      ['first frame not SETTINGS', Buffer.concat([PREFACE, rawFrame(FrameType.PING, 0, 0, Buffer.alloc(8))]), H2Error.PROTOCOL_ERROR],
      ['DATA on stream 0', Buffer.concat([HELLO, rawFrame(FrameType.DATA, 0, 0, Buffer.alloc(4))]), H2Error.PROTOCOL_ERROR],
      ['frame above MAX_FRAME_SIZE', Buffer.concat([HELLO, rawFrame(FrameType.DATA, 0, 1, Buffer.alloc(20000))]), H2Error.FRAME_SIZE_ERROR],
      ['bad HPACK', Buffer.concat([HELLO, rawFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0xff, 0xff]))]), H2Error.COMPRESSION_ERROR],
      ['even stream ID', Buffer.concat([HELLO, requestHeaders(2, 'x')]), H2Error.PROTOCOL_ERROR],
      ['PING of 7 bytes', Buffer.concat([HELLO, rawFrame(FrameType.PING, 0, 0, Buffer.alloc(7))]), H2Error.FRAME_SIZE_ERROR],
      ['window overflow', Buffer.concat([HELLO, windowUpdateFrame(0, 2 ** 31 - 1)]), H2Error.FLOW_CONTROL_ERROR],
      ['CONTINUATION expected', Buffer.concat([HELLO, rawFrame(FrameType.HEADERS, 0, 1, Buffer.from([0x82])), rawFrame(FrameType.PING, 0, 0, Buffer.alloc(8))]), H2Error.PROTOCOL_ERROR],
      ['PUSH_PROMISE', Buffer.concat([HELLO, rawFrame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4))]), H2Error.PROTOCOL_ERROR],
    ];
    for (const [name, bytes, code] of cases) {
      const { frames, closed } = await exchange(bytes, 2000);
      expect(goawayCode(frames), name).toBe(code);
      expect(closed, name).toBe(true);
    }
  });

  it('refuses streams above MAX_CONCURRENT_STREAMS with REFUSED_STREAM', async () => {
    const heads: Buffer[] = [HELLO];
    for (let i = 0; i < 60; i++) heads.push(requestHeaders(1 + 2 * i, 'x')); // no END_STREAM: they stay open
    const { frames } = await exchange(Buffer.concat(heads));
    const refused = frames.filter((f) => f.type === FrameType.RST_STREAM && f.payload.readUInt32BE(0) === H2Error.REFUSED_STREAM);
    expect(refused.length).toBe(10);
  });

  it('survives random and mutated frames, then still serves a grpc-js client', async () => {
    let seed = 424242;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const valid = [
      requestHeaders(1, 'h'),
      rawFrame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from([0, 0, 0, 0, 3, 0x0a, 1, 0x61])),
      windowUpdateFrame(1, 100),
      rawFrame(FrameType.PING, 0, 0, Buffer.alloc(8)),
      rawFrame(FrameType.RST_STREAM, 0, 1, Buffer.alloc(4)),
      settingsFrame([[4, 100], [5, 16384]]),
    ];
    for (let round = 0; round < 150; round++) {
      const parts: Buffer[] = [HELLO];
      for (let i = 0; i < 1 + rand(8); i++) {
        if (rand(2) === 0) {
          const f = Buffer.from(valid[rand(valid.length)] as Buffer);
          for (let k = 0; k < 1 + rand(3); k++) f[rand(f.length)] = rand(256); // flip bytes anywhere
          parts.push(f);
        } else {
          const len = rand(64);
          parts.push(rawFrame(rand(12), rand(256), rand(8), Buffer.from(Array.from({ length: len }, () => rand(256)))));
        }
      }
      await exchange(Buffer.concat(parts), 30);
    }
    const c = kv();
    const r = await unary(c, 'Range', { key: Buffer.from('still-alive') });
    expect(((r.kvs as Msg[])[0]?.key as Buffer).toString()).toBe('still-alive');
    c.close();
  });
});
