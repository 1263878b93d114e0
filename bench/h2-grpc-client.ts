/**
 * A minimal gRPC client over node:http2 with prebuilt protobuf bodies: much cheaper per call than
 * grpc-js (no interceptors, no object decoding), and it reads grpc-status from the trailers, which
 * h2load cannot. Used for the watch writers and watchers, the key loader, the failover writer and
 * the readiness probes.
 */
import * as http2 from 'node:http2';
import { connect as netConnect } from 'node:net';

import { grpcFrame } from './grpc-wire.js';

export interface UnaryResult {
  /** gRPC status code; -1 when the call failed below gRPC (connection refused, reset, ...). */
  status: number;
  message: string;
  /** The (single) response message, without its 5-byte prefix. */
  response: Buffer | undefined;
}

/** Splits a stream of DATA bytes into gRPC messages. */
export class GrpcMessageReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly onMessage: (message: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes >= 5) {
      const head = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
      const length = head.readUInt32BE(1);
      if (head.length < 5 + length) {
        this.pending = [head];
        return;
      }
      if (head[0] !== 0) throw new Error('compressed gRPC message (not requested)');
      this.onMessage(head.subarray(5, 5 + length));
      const rest = head.subarray(5 + length);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
    }
  }
}

/** One HTTP/2 connection to a member's client URL; reconnects on the next call after it broke. */
export class GrpcConnection {
  private session: http2.ClientHttp2Session | undefined;

  constructor(readonly url: string) {}

  private ensureSession(): http2.ClientHttp2Session {
    if (this.session !== undefined && !this.session.closed && !this.session.destroyed) return this.session;
    const { hostname, port } = new URL(this.url);
    const session = http2.connect(this.url, {
      // Nagle off, as grpc-go and grpc-js do: small requests must not wait for an ACK.
      createConnection: () => netConnect({ host: hostname, port: Number(port), noDelay: true }),
      settings: { initialWindowSize: 1 << 24 },
    });
    session.on('error', () => {
      // The pending streams see the failure; a new call opens a new connection.
    });
    session.on('connect', () => session.setLocalWindowSize(1 << 26));
    this.session = session;
    return session;
  }

  private open(path: string, timeoutMs: number | undefined): http2.ClientHttp2Stream {
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    };
    if (timeoutMs !== undefined) headers['grpc-timeout'] = `${Math.max(1, Math.round(timeoutMs))}m`;
    return this.ensureSession().request(headers);
  }

  /** A unary call; never rejects (failures come back as status -1 or a gRPC status). */
  unary(path: string, message: Buffer, timeoutMs = 10_000): Promise<UnaryResult> {
    return new Promise((resolve) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.open(path, timeoutMs);
      } catch (error) {
        resolve({ status: -1, message: String(error), response: undefined });
        return;
      }
      let status = -1;
      let statusMessage = '';
      let response: Buffer | undefined;
      const reader = new GrpcMessageReader((m) => {
        response ??= Buffer.from(m);
      });
      const readStatus = (headers: http2.IncomingHttpHeaders): void => {
        const s = headers['grpc-status'];
        if (s !== undefined) {
          status = Number(s);
          statusMessage = decodeURIComponent(String(headers['grpc-message'] ?? ''));
        }
      };
      // A local deadline too: a server that never answers must not hang the benchmark.
      const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), timeoutMs + 1000);
      stream.on('response', readStatus); // trailers-only responses carry the status here
      stream.on('trailers', readStatus);
      stream.on('data', (chunk: Buffer) => reader.push(chunk));
      stream.on('error', (error: Error) => {
        if (status === -1) statusMessage = error.message;
      });
      stream.on('close', () => {
        clearTimeout(timer);
        resolve({ status, message: statusMessage, response: status === 0 ? response : undefined });
      });
      stream.end(grpcFrame(message));
    });
  }

  /**
   * A streaming call: `onMessage` gets every response message; `closed` resolves with the final
   * status. Write request messages with `send`.
   */
  stream(path: string, onMessage: (message: Buffer) => void): GrpcStream {
    const stream = this.open(path, undefined);
    const reader = new GrpcMessageReader(onMessage);
    let status = -1;
    let statusMessage = '';
    const readStatus = (headers: http2.IncomingHttpHeaders): void => {
      const s = headers['grpc-status'];
      if (s !== undefined) {
        status = Number(s);
        statusMessage = decodeURIComponent(String(headers['grpc-message'] ?? ''));
      }
    };
    stream.on('response', readStatus);
    stream.on('trailers', readStatus);
    stream.on('data', (chunk: Buffer) => reader.push(chunk));
    stream.on('error', (error: Error) => {
      if (status === -1) statusMessage = error.message;
    });
    const closed = new Promise<{ status: number; message: string }>((resolve) => {
      stream.on('close', () => resolve({ status, message: statusMessage }));
    });
    return {
      send: (message: Buffer) => {
        stream.write(grpcFrame(message));
      },
      end: () => stream.end(),
      cancel: () => stream.close(http2.constants.NGHTTP2_CANCEL),
      closed,
    };
  }

  close(): void {
    this.session?.destroy();
    this.session = undefined;
  }
}

export interface GrpcStream {
  send(message: Buffer): void;
  /** Half-closes the request side. */
  end(): void;
  /** RST_STREAM(CANCEL). */
  cancel(): void;
  closed: Promise<{ status: number; message: string }>;
}
