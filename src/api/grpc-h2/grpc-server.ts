import type { Socket } from 'node:net';
import { status as GrpcStatus, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { DEFAULT_H2_LIMITS, H2Connection, type H2Limits, type H2Stream, type StreamSink } from './h2-connection.js';
import type { HeaderField } from './hpack.js';
import { frameMessage, RequestMetadata, StreamCall, statusTrailers, toStatus, UnaryCall, type GrpcStatusObject } from './grpc-calls.js';

/**
 * Ketch's own gRPC server on its own HTTP/2 (h2-connection.ts): the services registered are the
 * same definitions and handler objects grpc-js takes (addService), so the two servers are
 * interchangeable behind the client listener. Unary, server-streaming and bidirectional calls;
 * deadlines from grpc-timeout; cancellation by RST_STREAM; etcd's (grpc-go's) message size error.
 */

export interface GrpcServerOptions {
  /** Largest request message accepted (etcd: --max-request-bytes plus grpc overhead). */
  maxReceiveMessageBytes: number;
  h2?: Partial<H2Limits>;
  /**
   * Answers requests that are not gRPC (an HTTP/2 GET /health from curl over TLS, whose ALPN
   * picked h2), as etcd's one handler serves both. Without it they get a gRPC INTERNAL status.
   */
  plainHttp?: PlainHttpHandler;
}

export interface PlainHttpResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body: string;
}

export type PlainHttpHandler = (method: string, path: string) => Promise<PlainHttpResponse>;

/** A request stream whose body (if any) is read and dropped. */
const DISCARDING_SINK = (stream: H2Stream): StreamSink => ({
  onData: (data) => stream.release(data.length),
  onEnd: () => undefined,
  onReset: () => undefined,
});

interface Method {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly deserialize: (bytes: Buffer) => unknown;
  readonly serialize: (value: unknown) => Buffer;
  readonly handler: (...args: never[]) => void;
}

type UnaryHandler = (call: UnaryCall, callback: (err: unknown, value?: unknown) => void) => void;
type StreamHandler = (call: StreamCall) => void;

/** grpc-timeout units (gRPC over HTTP/2 spec). */
const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

export class KetchGrpcServer {
  private readonly methods = new Map<string, Method>();
  private readonly connections = new Set<H2Connection>();
  private readonly limits: H2Limits;

  constructor(
    private readonly log: Logger,
    private readonly options: GrpcServerOptions,
  ) {
    this.limits = { ...DEFAULT_H2_LIMITS, ...options.h2 };
  }

  addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    for (const [name, def] of Object.entries(definition)) {
      const handler = (implementation[name] ?? implementation[def.originalName ?? '']) as Method['handler'] | undefined;
      if (handler === undefined) continue; // answered UNIMPLEMENTED
      this.methods.set(def.path, {
        path: def.path,
        requestStream: def.requestStream,
        responseStream: def.responseStream,
        deserialize: def.requestDeserialize as Method['deserialize'],
        serialize: def.responseSerialize as Method['serialize'],
        handler,
      });
    }
  }

  /** Serves a socket whose first bytes (head, at least part of the preface) were already read. */
  handleConnection(socket: Socket, head: Buffer): void {
    const conn = new H2Connection(socket, (stream, headers) => this.accept(stream, headers), this.limits);
    this.connections.add(conn);
    conn.onClose = () => this.connections.delete(conn);
    conn.feed(head);
    socket.resume();
  }

  /** GOAWAY to every connection; after graceMs the ones still open are closed. */
  async close(graceMs = 1000): Promise<void> {
    for (const c of this.connections) c.goAway();
    const deadline = Date.now() + graceMs;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.connections) c.destroy();
  }

  private accept(stream: H2Stream, headers: HeaderField[]): StreamSink | undefined {
    let path = '';
    let method = '';
    let contentType = '';
    let timeout = '';
    let encoding = '';
    const metadata = new RequestMetadata();
    for (const [name, value] of headers) {
      if (name.charCodeAt(0) === 0x3a /* ':' */) {
        if (name === ':path') path = value;
        else if (name === ':method') method = value;
        continue;
      }
      switch (name) {
        case 'content-type':
          contentType = value;
          break;
        case 'grpc-timeout':
          timeout = value;
          break;
        case 'grpc-encoding':
          encoding = value;
          break;
        case 'te':
        case 'user-agent':
        case 'grpc-accept-encoding':
          break;
        default:
          metadata.add(name, value);
      }
    }
    if (method !== 'POST' || !contentType.startsWith('application/grpc')) {
      const plain = this.options.plainHttp;
      if (plain !== undefined) {
        plain(method, path).then(
          (res) => stream.respondPlain(res.status, Object.entries(res.headers), Buffer.from(res.body)),
          (err: unknown) => {
            this.log.warn({ err, path }, 'http request failed');
            stream.respondPlain(500, [], Buffer.alloc(0));
          },
        );
        return DISCARDING_SINK(stream);
      }
      stream.sendTrailers([['grpc-status', String(GrpcStatus.INTERNAL)], ['grpc-message', 'grpc: this server only serves gRPC (POST, application/grpc)']]);
      return undefined;
    }
    const def = this.methods.get(path);
    if (def === undefined) {
      const service = path.split('/')[1] ?? '';
      const known = [...this.methods.keys()].some((p) => p.startsWith(`/${service}/`));
      const details = known ? `unknown method ${path.split('/')[2] ?? ''} for service ${service}` : `unknown service ${service}`;
      stream.sendTrailers(statusTrailers({ code: GrpcStatus.UNIMPLEMENTED, details }));
      return undefined;
    }
    if (encoding !== '' && encoding !== 'identity') {
      stream.sendTrailers(statusTrailers({ code: GrpcStatus.UNIMPLEMENTED, details: `grpc: Decompressor is not installed for grpc-encoding "${encoding}"` }));
      return undefined;
    }
    const timeoutMs = parseTimeout(timeout);
    const ctx = { stream, path, metadata, deadline: timeoutMs === undefined ? Infinity : Date.now() + timeoutMs };
    return new CallSink(this.log, def, ctx, this.options.maxReceiveMessageBytes, timeoutMs);
  }
}

function parseTimeout(value: string): number | undefined {
  if (value === '') return undefined;
  const unit = TIMEOUT_UNIT_MS[value.slice(-1)];
  const amount = Number(value.slice(0, -1));
  if (unit === undefined || !Number.isFinite(amount) || value.length > 9) return undefined;
  return amount * unit;
}

/**
 * One call: reassembles length-prefixed messages from DATA frames, starts the handler (at the
 * first message for unary and server-streaming calls, at once for bidirectional ones), and turns
 * deadlines and resets into cancellation.
 */
class CallSink implements StreamSink {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  /** Length prefix plus message of the message being buffered; -1 before its prefix is in. */
  private expectedBytes = -1;
  /** Unary and server-streaming: the single request message. */
  private request: Buffer | undefined;
  private messages = 0;
  private call: UnaryCall | StreamCall | undefined;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(
    private readonly log: Logger,
    private readonly def: Method,
    private readonly ctx: { stream: H2Stream; path: string; metadata: RequestMetadata; deadline: number },
    private readonly maxMessageBytes: number,
    timeoutMs: number | undefined,
  ) {
    if (timeoutMs !== undefined) {
      this.timer = setTimeout(() => this.deadlineExceeded(), Math.max(0, Math.ceil(timeoutMs)));
    }
    if (def.requestStream) {
      const call = new StreamCall(ctx, def.serialize);
      this.call = call;
      call.once('close', () => this.done());
      this.invoke(() => (def.handler as unknown as StreamHandler)(call));
    }
  }

  onData(data: Buffer): void {
    if (this.finished) return;
    // Window goes back as bytes arrive (a message may be larger than the window); only a
    // streaming handler that stops reading holds it back.
    if (this.def.requestStream) (this.call as StreamCall).consume(data.length);
    else this.ctx.stream.release(data.length);
    // Fast path: one whole message in one frame, nothing buffered.
    if (this.bufferedBytes === 0 && data.length >= 5) {
      const length = data.readUInt32BE(1);
      if (data.length === 5 + length) {
        if (this.checkMessage(data[0] as number, length)) this.onMessage(data.subarray(5));
        return;
      }
    }
    this.buffered.push(data);
    this.bufferedBytes += data.length;
    while (this.bufferedBytes >= 5 && !this.finished) {
      if (this.expectedBytes < 0) {
        if ((this.buffered[0] as Buffer).length < 5) this.buffered = [Buffer.concat(this.buffered)];
        const head = this.buffered[0] as Buffer;
        const length = head.readUInt32BE(1);
        if (!this.checkMessage(head[0] as number, length)) return;
        this.expectedBytes = 5 + length;
      }
      // Joined only once the whole message is in, so a large message is copied once.
      if (this.bufferedBytes < this.expectedBytes) return;
      const all = this.buffered.length === 1 ? (this.buffered[0] as Buffer) : Buffer.concat(this.buffered);
      const message = all.subarray(5, this.expectedBytes);
      const rest = all.subarray(this.expectedBytes);
      this.buffered = rest.length > 0 ? [rest] : [];
      this.bufferedBytes = rest.length;
      this.expectedBytes = -1;
      this.onMessage(message);
    }
  }

  onEnd(): void {
    if (this.finished) return;
    if (this.bufferedBytes > 0) {
      this.fail({ code: GrpcStatus.INTERNAL, details: 'grpc: client sent a truncated message' });
      return;
    }
    if (this.def.requestStream) {
      (this.call as StreamCall).deliverEnd();
      return;
    }
    if (this.request === undefined) {
      this.fail({ code: GrpcStatus.INTERNAL, details: 'grpc: client sent no request message' });
      return;
    }
    this.startUnaryOrServerStream(this.request);
  }

  onReset(): void {
    this.done();
    this.call?.cancel();
  }

  private checkMessage(flag: number, length: number): boolean {
    if (flag !== 0) {
      this.fail({ code: GrpcStatus.INTERNAL, details: 'grpc: compressed flag set with identity or empty encoding' });
      return false;
    }
    if (length > this.maxMessageBytes) {
      // grpc-go's words, which etcd clients see from etcd.
      this.fail({ code: GrpcStatus.RESOURCE_EXHAUSTED, details: `grpc: received message larger than max (${length} vs. ${this.maxMessageBytes})` });
      return false;
    }
    return true;
  }

  private onMessage(bytes: Buffer): void {
    const def = this.def;
    if (!def.requestStream) {
      if (++this.messages > 1) {
        this.fail({ code: GrpcStatus.UNIMPLEMENTED, details: 'grpc: client streaming on a unary method' });
        return;
      }
      // Copied: decoded bytes fields are views of this buffer and may be kept long after.
      this.request = Buffer.from(bytes);
      return;
    }
    let message: unknown;
    try {
      message = def.deserialize(Buffer.from(bytes));
    } catch (err) {
      this.fail({ code: GrpcStatus.INTERNAL, details: `grpc: error unmarshalling request: ${(err as Error).message}` });
      return;
    }
    (this.call as StreamCall).deliver(message);
  }

  private startUnaryOrServerStream(bytes: Buffer): void {
    const def = this.def;
    let request: unknown;
    try {
      request = def.deserialize(bytes);
    } catch (err) {
      this.fail({ code: GrpcStatus.INTERNAL, details: `grpc: error unmarshalling request: ${(err as Error).message}` });
      return;
    }
    if (def.responseStream) {
      const call = new StreamCall(this.ctx, def.serialize);
      call.request = request;
      this.call = call;
      call.once('close', () => this.done());
      call.once('finish', () => this.done());
      this.invoke(() => (def.handler as unknown as StreamHandler)(call));
      return;
    }
    const call = new UnaryCall(this.ctx, request);
    this.call = call;
    this.invoke(() =>
      (def.handler as unknown as UnaryHandler)(call, (err, value) => {
        if (this.finished) return;
        if (err !== null && err !== undefined) return this.fail(toStatus(err));
        let out: Buffer;
        try {
          out = def.serialize(value);
        } catch (e) {
          return this.fail({ code: GrpcStatus.INTERNAL, details: `grpc: error while marshaling: ${(e as Error).message}` });
        }
        this.done();
        this.ctx.stream.respondUnary(frameMessage(out));
      }),
    );
  }

  /** Runs a handler; one that throws ends the call as INTERNAL instead of taking the server down. */
  private invoke(run: () => void): void {
    try {
      run();
    } catch (err) {
      this.log.error({ err, method: this.def.path }, 'gRPC handler threw');
      this.fail({ code: GrpcStatus.INTERNAL, details: `grpc: handler failed: ${(err as Error).message}` });
    }
  }

  private deadlineExceeded(): void {
    this.timer = undefined;
    if (this.finished) return;
    this.fail({ code: GrpcStatus.DEADLINE_EXCEEDED, details: 'context deadline exceeded' });
  }

  /** Ends the call with an error status; the handler, if running, sees it cancelled. */
  private fail(status: GrpcStatusObject): void {
    if (this.finished) return;
    this.done();
    this.ctx.stream.sendTrailers(statusTrailers(status));
    this.call?.cancel();
  }

  private done(): void {
    this.finished = true;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
