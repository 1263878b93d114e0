// refuseConnection() against real clients on loopback: what each kind of client is told.
import { get } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { connect, createServer, type Server } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refuseConnection } from '../../src/api/connection-refusal.js';
import { etcdServiceClients, etcdServiceDefinitions } from '../../src/api/etcd-proto.js';

const REASON = 'etcdserver: too many client connections (at most 1); close some or raise --experimental-max-client-connections';

let server: Server;
let port = 0;

beforeAll(async () => {
  server = createServer((socket) => refuseConnection(socket, REASON));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('refuseConnection', () => {
  it('answers an HTTP/1.1 request with 503 and the reason', async () => {
    const res = await new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (r) => {
        let body = '';
        r.setEncoding('utf8');
        r.on('data', (c: string) => (body += c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body, connection: r.headers.connection }));
      }).on('error', reject);
    });
    expect(res).toEqual({ status: 503, body: `${REASON}\n`, connection: 'close' });
  });

  it("fails a grpc-js client's call with RESOURCE_EXHAUSTED and the reason", async () => {
    const client = new (etcdServiceClients().KV)(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const range = etcdServiceDefinitions().KV.Range;
    try {
      const err = await new Promise<grpc.ServiceError | undefined>((resolve) => {
        client.makeUnaryRequest(range.path, range.requestSerialize, range.responseDeserialize, { key: Buffer.from('k') }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (e) => resolve(e ?? undefined));
      });
      expect({ code: err?.code, details: err?.details }).toEqual({ code: grpc.status.RESOURCE_EXHAUSTED, details: REASON });
    } finally {
      client.close();
    }
  });

  it('answers the first HTTP/2 request, then sends GOAWAY with ENHANCE_YOUR_CALM naming that stream', async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    const goaway = new Promise<{ code: number; lastStreamId: number; debug: string }>((resolve) =>
      session.once('goaway', (code, lastStreamId, data) => resolve({ code, lastStreamId, debug: data?.toString() ?? '' })),
    );
    const req = session.request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Range', 'content-type': 'application/grpc', te: 'trailers' });
    req.on('error', () => undefined);
    const headers = await new Promise<Record<string, unknown>>((resolve) => req.once('response', (h) => resolve(h)));
    expect(headers[':status']).toBe(200);
    expect(headers['grpc-status']).toBe('8');
    expect(decodeURIComponent(String(headers['grpc-message']))).toBe(REASON);
    expect(await goaway).toEqual({ code: 0xb, lastStreamId: 1, debug: REASON });
    session.destroy();
  });

  it('answers a plain HTTP/2 request (curl over TLS) with 503 and the reason', async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    const req = session.request({ ':method': 'GET', ':path': '/health' });
    req.on('error', () => undefined);
    req.setEncoding('utf8');
    let body = '';
    req.on('data', (chunk: string) => (body += chunk));
    const status = await new Promise<unknown>((resolve) => req.once('response', (h) => resolve(h[':status'])));
    await new Promise((resolve) => req.once('end', resolve));
    expect({ status, body }).toEqual({ status: 503, body: `${REASON}\n` });
    session.destroy();
  });

  it('sends GOAWAY to an HTTP/2 client that asks nothing, and closes', async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    const goaway = await new Promise<{ code: number; lastStreamId: number }>((resolve) =>
      session.once('goaway', (code, lastStreamId) => resolve({ code, lastStreamId })),
    );
    expect(goaway).toEqual({ code: 0xb, lastStreamId: 0 });
    await new Promise((resolve) => session.once('close', resolve));
  });

  it('closes a connection that sends nothing within a second or two', async () => {
    const started = performance.now();
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    const received: Buffer[] = [];
    socket.on('data', (c: Buffer) => received.push(c));
    await new Promise((resolve) => socket.once('close', resolve));
    expect(Buffer.concat(received).length).toBe(0);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
