import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { H2Stream } from './h2-connection.js';

/**
 * The call objects handlers receive, shaped like grpc-js's (ServerUnaryCall, ServerWritableStream,
 * ServerDuplexStream) in what Ketch's services use: request, metadata, cancelled and 'cancelled',
 * write/end/'drain'/pause/resume, and emit('error', {code, details}) or destroy(err) to end with a
 * status. So the services are the same functions for grpc-js and for this server.
 */

export interface GrpcStatusObject {
  code: number;
  details: string;
}

/** Request metadata (custom headers), read like grpc-js's Metadata. */
export class RequestMetadata {
  private readonly map = new Map<string, string[]>();

  add(key: string, value: string): void {
    const list = this.map.get(key);
    if (list === undefined) this.map.set(key, [value]);
    else list.push(value);
  }

  get(key: string): Array<string | Buffer> {
    const values = this.map.get(key.toLowerCase()) ?? [];
    return key.endsWith('-bin') ? values.map((v) => Buffer.from(v, 'base64')) : values;
  }

  getMap(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of this.map) if (v[0] !== undefined) out[k] = v[0];
    return out;
  }
}

/** The 5-byte gRPC length prefix plus the message. */
export function frameMessage(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/** grpc-message is percent-encoded UTF-8 (gRPC over HTTP/2 spec). */
export function encodeGrpcMessage(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Longer details are cut so the trailers always fit one HEADERS frame of the smallest size. */
const DETAILS_CHARS_MAX = 4096;

export function statusTrailers(status: GrpcStatusObject): Array<[string, string]> {
  if (status.code === GrpcStatus.OK) return [['grpc-status', '0']];
  return [
    ['grpc-status', String(status.code)],
    ['grpc-message', encodeGrpcMessage(status.details.slice(0, DETAILS_CHARS_MAX))],
  ];
}

/** As grpc-js's serverErrorToStatus: {code, details} objects and Errors. */
export function toStatus(err: unknown): GrpcStatusObject {
  const e = (err ?? {}) as { code?: unknown; details?: unknown; message?: unknown };
  const code = typeof e.code === 'number' && Number.isInteger(e.code) ? e.code : GrpcStatus.UNKNOWN;
  const details =
    typeof e.code === 'number' && typeof e.details === 'string'
      ? e.details
      : typeof e.message === 'string'
        ? e.message
        : 'Unknown Error';
  return { code, details };
}

/** Shared by all call kinds. */
interface CallContext {
  readonly stream: H2Stream;
  readonly path: string;
  readonly metadata: RequestMetadata;
  readonly deadline: number;
}

export class UnaryCall extends EventEmitter {
  cancelled = false;

  constructor(
    private readonly ctx: CallContext,
    readonly request: unknown,
  ) {
    super();
  }

  get metadata(): RequestMetadata {
    return this.ctx.metadata;
  }

  getPeer(): string {
    return this.ctx.stream.peer;
  }

  getDeadline(): Date | number {
    return this.ctx.deadline;
  }

  getPath(): string {
    return this.ctx.path;
  }

  sendMetadata(): void {}

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.emit('cancelled', 'cancelled');
  }
}

/**
 * Server-streaming and bidirectional calls. Incoming messages are pushed to the readable side;
 * while the handler does not read (paused, buffer full) the stream's window is not given back,
 * so the client is held by HTTP/2 flow control. write() completes once the message went out.
 */
export class StreamCall extends Duplex {
  cancelled = false;
  request: unknown;
  private pendingStatus: GrpcStatusObject = { code: GrpcStatus.OK, details: 'OK' };
  private statusSent = false;
  /** Bytes of messages pushed while the readable side was full, released on _read. */
  private heldBytes = 0;

  constructor(
    private readonly ctx: CallContext,
    private readonly serialize: (value: unknown) => Buffer,
  ) {
    super({ objectMode: true });
    this.on('error', (err: unknown) => {
      this.pendingStatus = toStatus(err);
      if (this.writableEnded || this.destroyed) this.sendStatus(this.pendingStatus);
      else this.end();
    });
  }

  get metadata(): RequestMetadata {
    return this.ctx.metadata;
  }

  getPeer(): string {
    return this.ctx.stream.peer;
  }

  getDeadline(): Date | number {
    return this.ctx.deadline;
  }

  getPath(): string {
    return this.ctx.path;
  }

  sendMetadata(): void {}

  /** Received bytes go back to the client's window at once, unless the handler is not reading. */
  consume(bytes: number): void {
    if (this.readableLength < this.readableHighWaterMark) this.ctx.stream.release(bytes);
    else this.heldBytes += bytes;
  }

  /** A message from the client. */
  deliver(message: unknown): void {
    if (!this.cancelled && !this.destroyed) this.push(message);
  }

  /** The client half-closed. */
  deliverEnd(): void {
    if (!this.cancelled && !this.destroyed) this.push(null);
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.statusSent = true;
    this.emit('cancelled', 'cancelled');
    this.destroy();
  }

  override _read(): void {
    if (this.heldBytes > 0) {
      const bytes = this.heldBytes;
      this.heldBytes = 0;
      this.ctx.stream.release(bytes);
    }
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    let bytes: Buffer;
    try {
      bytes = this.serialize(chunk);
    } catch (err) {
      this.sendStatus({ code: GrpcStatus.INTERNAL, details: `grpc: error while marshaling: ${(err as Error).message}` });
      callback();
      return;
    }
    this.ctx.stream.sendData(frameMessage(bytes), () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    callback();
    this.sendStatus(this.pendingStatus);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    // destroy(err) ends the call with err's status (as Snapshot does on failure); a bare destroy
    // of a call still open cancels it.
    if (err !== null) this.sendStatus(toStatus(err));
    else if (!this.statusSent) {
      this.statusSent = true;
      this.ctx.stream.reset(0x8 /* CANCEL */);
    }
    callback(err);
  }

  private sendStatus(status: GrpcStatusObject): void {
    if (this.statusSent) return;
    this.statusSent = true;
    this.ctx.stream.sendTrailers(statusTrailers(status));
  }
}
