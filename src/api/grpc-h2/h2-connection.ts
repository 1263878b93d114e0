import type { Socket } from 'node:net';
import {
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_WINDOW_BYTES,
  Flag,
  FRAME_HEADER_BYTES,
  FrameType,
  goawayFrame,
  H2Error,
  MAX_FRAME_BYTES_LIMIT,
  MAX_WINDOW_BYTES,
  PREFACE,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from './h2-frames.js';
import { encodeHeaders, HeaderListTooLarge, type HeaderField, HpackDecoder, HpackError } from './hpack.js';

/**
 * The server side of one HTTP/2 connection (RFC 9113), as much of it as gRPC needs: streams opened
 * by the client, flow control on both sides, SETTINGS, PING, GOAWAY, RST_STREAM, CONTINUATION.
 * What a stream carries is the gRPC layer's business (StreamSink); this class only moves frames.
 * Malformed input never throws out of here: it becomes a stream error (RST_STREAM) or a connection
 * error (GOAWAY, then the socket is closed).
 */

export interface H2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS we announce and enforce (REFUSED_STREAM above it). */
  maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we announce; a larger request header list is refused. */
  maxHeaderListBytes: number;
  /** Our SETTINGS_INITIAL_WINDOW_SIZE: how much each stream may send before we grant more. */
  streamWindowBytes: number;
  /** Our connection-level receive window. */
  connectionWindowBytes: number;
}

export const DEFAULT_H2_LIMITS: H2Limits = {
  maxConcurrentStreams: 10_000,
  maxHeaderListBytes: 64 * 1024,
  streamWindowBytes: 1024 * 1024,
  connectionWindowBytes: 16 * 1024 * 1024,
};

/** What the gRPC layer does with one request stream. */
export interface StreamSink {
  /** A DATA frame's payload (padding removed). The sink calls stream.release() once it consumed it. */
  onData(data: Buffer): void;
  /** The client half-closed the stream. */
  onEnd(): void;
  /** The stream is gone before we finished it: RST_STREAM, connection loss, or a protocol error. */
  onReset(): void;
}

/** Returns the sink for a new stream, or undefined after answering it (e.g. trailers-only). */
export type StreamAcceptor = (stream: H2Stream, headers: HeaderField[]) => StreamSink | undefined;

class ConnectionError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** Precomputed response header block: `:status: 200`, `content-type: application/grpc`. */
const RESPONSE_HEADERS_BLOCK = encodeHeaders([
  [':status', '200'],
  ['content-type', 'application/grpc'],
]);
/** Trailers for grpc-status 0, the common case. */
const OK_TRAILERS_BLOCK = encodeHeaders([['grpc-status', '0']]);
/** DATA payloads from this size on are written as views of the response, not copied into frames. */
const OWN_CHUNK_BYTES = 16 * 1024;

interface Outgoing {
  data: Buffer;
  /** Called once the last byte of data is handed to the socket (and the socket is not backed up). */
  done: (() => void) | undefined;
}

export class H2Stream {
  sink: StreamSink | undefined;
  /** How much more the client may send on this stream. */
  recvWindow: number;
  /** Bytes consumed by the sink and not yet given back through WINDOW_UPDATE. */
  private releasedBytes = 0;
  /** How much more we may send (the client's window for this stream). */
  sendWindow: number;
  headersSent = false;
  remoteEnded = false;
  localEnded = false;
  closed = false;
  readonly outgoing: Outgoing[] = [];
  outgoingOffset = 0;
  /** What ends the response once the queued data is out: a trailers block, or (plain HTTP) an empty DATA frame. */
  pendingTrailers: Buffer | 'end-data' | undefined;

  constructor(
    readonly id: number,
    readonly connection: H2Connection,
    initialSendWindow: number,
    initialRecvWindow: number,
  ) {
    this.sendWindow = initialSendWindow;
    this.recvWindow = initialRecvWindow;
  }

  get peer(): string {
    return this.connection.peer;
  }

  /** Gives consumed bytes back to the client's window for this stream (batched to half a window). */
  release(bytes: number): void {
    if (this.closed || this.remoteEnded) return;
    this.releasedBytes += bytes;
    if (this.releasedBytes >= this.connection.limits.streamWindowBytes / 2) {
      this.recvWindow += this.releasedBytes;
      this.connection.queueFrame(windowUpdateFrame(this.id, this.releasedBytes));
      this.releasedBytes = 0;
    }
  }

  /** Queues response bytes (already gRPC-framed); done runs once they went out. */
  sendData(data: Buffer, done?: () => void): void {
    if (this.closed || this.localEnded) {
      if (done !== undefined) process.nextTick(done);
      return;
    }
    this.ensureHeaders();
    this.outgoing.push({ data, done });
    this.connection.flushStream(this);
  }

  /**
   * Ends the response with trailers (after any queued data). Without any response headers sent
   * yet, this is a trailers-only response: status and content type go in the same HEADERS frame.
   */
  sendTrailers(fields: HeaderField[]): void {
    if (this.closed || this.localEnded) return;
    this.localEnded = true;
    const ok = fields.length === 1 && fields[0]?.[0] === 'grpc-status' && fields[0][1] === '0';
    if (!this.headersSent) {
      this.headersSent = true;
      this.pendingTrailers = encodeHeaders([[':status', '200'], ['content-type', 'application/grpc'], ...fields]);
    } else this.pendingTrailers = ok ? OK_TRAILERS_BLOCK : encodeHeaders(fields);
    this.connection.flushStream(this);
  }

  /**
   * The common unary answer in one write: headers, one message, OK trailers, when it fits in one
   * frame and both windows; otherwise through the general path.
   */
  respondUnary(framed: Buffer): void {
    if (this.closed || this.localEnded) return;
    const conn = this.connection;
    if (this.headersSent || framed.length > conn.peerMaxFrameBytes || framed.length > this.sendWindow || framed.length > conn.sendWindow) {
      this.sendData(framed);
      this.sendTrailers([['grpc-status', '0']]);
      return;
    }
    this.headersSent = true;
    this.localEnded = true;
    const hLen = RESPONSE_HEADERS_BLOCK.length;
    const tLen = OK_TRAILERS_BLOCK.length;
    const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES * 3 + hLen + framed.length + tLen);
    let off = 0;
    writeFrameHeader(buf, off, hLen, FrameType.HEADERS, Flag.END_HEADERS, this.id);
    off += FRAME_HEADER_BYTES;
    RESPONSE_HEADERS_BLOCK.copy(buf, off);
    off += hLen;
    writeFrameHeader(buf, off, framed.length, FrameType.DATA, 0, this.id);
    off += FRAME_HEADER_BYTES;
    framed.copy(buf, off);
    off += framed.length;
    writeFrameHeader(buf, off, tLen, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, this.id);
    off += FRAME_HEADER_BYTES;
    OK_TRAILERS_BLOCK.copy(buf, off);
    this.sendWindow -= framed.length;
    conn.sendWindow -= framed.length;
    conn.queueFrame(buf);
    conn.localEndSent(this);
  }

  /**
   * A complete plain HTTP response (not gRPC): status, headers, body, then END_STREAM on an empty
   * DATA frame. The client port serves /health, /version and /metrics this way to HTTP/2 clients.
   */
  respondPlain(status: number, fields: HeaderField[], body: Buffer): void {
    if (this.closed || this.localEnded || this.headersSent) return;
    this.headersSent = true;
    this.localEnded = true;
    const block = encodeHeaders([[':status', String(status)], ...fields]);
    const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + block.length);
    const flags = body.length === 0 ? Flag.END_HEADERS | Flag.END_STREAM : Flag.END_HEADERS;
    writeFrameHeader(buf, 0, block.length, FrameType.HEADERS, flags, this.id);
    block.copy(buf, FRAME_HEADER_BYTES);
    this.connection.queueFrame(buf);
    if (body.length === 0) {
      this.connection.localEndSent(this);
      return;
    }
    this.outgoing.push({ data: body, done: undefined });
    this.pendingTrailers = 'end-data';
    this.connection.flushStream(this);
  }

  /** Resets the stream (our side gives up on it). */
  reset(code: number): void {
    if (this.closed) return;
    this.connection.queueFrame(rstStreamFrame(this.id, code));
    this.connection.closeStream(this, true);
  }

  private ensureHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + RESPONSE_HEADERS_BLOCK.length);
    writeFrameHeader(buf, 0, RESPONSE_HEADERS_BLOCK.length, FrameType.HEADERS, Flag.END_HEADERS, this.id);
    RESPONSE_HEADERS_BLOCK.copy(buf, FRAME_HEADER_BYTES);
    this.connection.queueFrame(buf);
  }
}

export class H2Connection {
  readonly peer: string;
  private readonly streams = new Map<number, H2Stream>();
  private readonly decoder: HpackDecoder;
  private pending: Buffer | undefined;
  private prefaceSeen = false;
  private settingsSeen = false;
  /** Highest stream ID the client opened; IDs at or below it are not idle any more. */
  private lastStreamId = 0;
  /** A header block split over CONTINUATION frames: the stream and the parts so far. */
  private continuation: { streamId: number; endStream: boolean; parts: Buffer[]; bytes: number } | undefined;

  /** Our receive window for the whole connection, and the bytes received since the last update. */
  private recvWindow: number;
  private recvSinceUpdate = 0;
  /** The client's connection window: how much more we may send in total. */
  sendWindow = DEFAULT_WINDOW_BYTES;
  private peerInitialWindow = DEFAULT_WINDOW_BYTES;
  peerMaxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
  /** Streams with data waiting for window. */
  private readonly blocked = new Set<H2Stream>();

  private out: Buffer[] = [];
  private flushScheduled = false;
  /** Callbacks of sends that completed in the frames not yet written / not yet drained. */
  private afterWrite: Array<() => void> = [];
  private waitingDrain = false;

  private goingAway = false;
  private dead = false;
  /** Runs when the connection is gone (the server forgets it). */
  onClose: (() => void) | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly accept: StreamAcceptor,
    readonly limits: H2Limits,
  ) {
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    // As Go (etcd) does: Nagle plus delayed ACKs would stall multi-frame responses.
    socket.setNoDelay(true);
    this.decoder = new HpackDecoder();
    this.recvWindow = limits.connectionWindowBytes;
    this.queueFrame(
      settingsFrame([
        [Setting.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
        [Setting.INITIAL_WINDOW_SIZE, limits.streamWindowBytes],
        [Setting.MAX_HEADER_LIST_SIZE, limits.maxHeaderListBytes],
        [Setting.ENABLE_PUSH, 0],
      ]),
    );
    if (limits.connectionWindowBytes > DEFAULT_WINDOW_BYTES) {
      this.queueFrame(windowUpdateFrame(0, limits.connectionWindowBytes - DEFAULT_WINDOW_BYTES));
    }
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('close', () => this.onSocketClose());
    socket.on('error', () => socket.destroy());
  }

  get activeStreams(): number {
    return this.streams.size;
  }

  /** Feeds bytes that were read before this connection took the socket over. */
  feed(head: Buffer): void {
    if (head.length > 0) this.onSocketData(head);
  }

  /**
   * Graceful shutdown: GOAWAY with the last stream we accepted; streams in progress may finish.
   * The socket is closed once none are left (or by the caller's deadline through destroy()).
   */
  goAway(): void {
    if (this.goingAway || this.dead) return;
    this.goingAway = true;
    this.queueFrame(goawayFrame(this.lastStreamId, H2Error.NO_ERROR));
    this.maybeFinishGoingAway();
  }

  destroy(): void {
    this.socket.destroy();
  }

  // ---- Output.

  queueFrame(buf: Buffer): void {
    if (this.dead) return;
    this.out.push(buf);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After the current microtasks: responses completed in the same turn share one write.
      process.nextTick(() => this.flushOut());
    }
  }

  private flushOut(): void {
    this.flushScheduled = false;
    if (this.dead) return;
    const frames = this.out;
    this.out = [];
    if (frames.length > 0 && !this.writeFrames(frames)) this.waitingDrain = true;
    if (!this.waitingDrain) this.runAfterWrite();
  }

  /**
   * Writes the frames in one go: small ones concatenated, large DATA payloads (views of the
   * response, see flushStream) as chunks of their own, in one writev. Returns false when the
   * socket wants a drain.
   */
  private writeFrames(frames: Buffer[]): boolean {
    if (frames.length === 1) return this.socket.write(frames[0] as Buffer);
    const chunks: Buffer[] = [];
    let run: Buffer[] = [];
    const endRun = (): void => {
      if (run.length > 0) chunks.push(run.length === 1 ? (run[0] as Buffer) : Buffer.concat(run));
      run = [];
    };
    for (const frame of frames) {
      if (frame.length < OWN_CHUNK_BYTES) run.push(frame);
      else {
        endRun();
        chunks.push(frame);
      }
    }
    endRun();
    if (chunks.length === 1) return this.socket.write(chunks[0] as Buffer);
    this.socket.cork();
    let ok = true;
    for (const chunk of chunks) ok = this.socket.write(chunk) && ok;
    this.socket.uncork();
    return ok;
  }

  private onDrain(): void {
    this.waitingDrain = false;
    this.runAfterWrite();
  }

  private runAfterWrite(): void {
    if (this.afterWrite.length === 0) return;
    const callbacks = this.afterWrite;
    this.afterWrite = [];
    for (const cb of callbacks) cb();
  }

  /** Sends as much of the stream's queued data as the windows allow, then its trailers. */
  flushStream(stream: H2Stream): void {
    while (stream.outgoing.length > 0) {
      const item = stream.outgoing[0] as Outgoing;
      const left = item.data.length - stream.outgoingOffset;
      const n = Math.min(left, stream.sendWindow, this.sendWindow, this.peerMaxFrameBytes);
      if (n <= 0 && left > 0) {
        this.blocked.add(stream);
        return;
      }
      if (n < OWN_CHUNK_BYTES) {
        const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + n);
        writeFrameHeader(buf, 0, n, FrameType.DATA, 0, stream.id);
        item.data.copy(buf, FRAME_HEADER_BYTES, stream.outgoingOffset, stream.outgoingOffset + n);
        this.queueFrame(buf);
      } else {
        // A large payload goes out as a view, not copied (a 1,000-key range answer is 256 KiB;
        // copying it into frames and then into one write buffer cost 9% of a loaded leader).
        const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
        writeFrameHeader(header, 0, n, FrameType.DATA, 0, stream.id);
        this.queueFrame(header);
        this.queueFrame(item.data.subarray(stream.outgoingOffset, stream.outgoingOffset + n));
      }
      stream.sendWindow -= n;
      this.sendWindow -= n;
      stream.outgoingOffset += n;
      if (stream.outgoingOffset === item.data.length) {
        stream.outgoing.shift();
        stream.outgoingOffset = 0;
        if (item.done !== undefined) this.afterWrite.push(item.done);
      }
    }
    this.blocked.delete(stream);
    if (stream.pendingTrailers !== undefined) {
      const block = stream.pendingTrailers;
      stream.pendingTrailers = undefined;
      if (block === 'end-data') {
        const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
        writeFrameHeader(buf, 0, 0, FrameType.DATA, Flag.END_STREAM, stream.id);
        this.queueFrame(buf);
      } else {
        const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + block.length);
        writeFrameHeader(buf, 0, block.length, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, stream.id);
        block.copy(buf, FRAME_HEADER_BYTES);
        this.queueFrame(buf);
      }
      this.localEndSent(stream);
    }
  }

  /** Our END_STREAM went out: the stream is done once the client's side is done too. */
  localEndSent(stream: H2Stream): void {
    if (stream.remoteEnded) this.closeStream(stream, false);
    else {
      // The answer is complete; tell the client to stop sending (RFC 9113 8.1).
      this.queueFrame(rstStreamFrame(stream.id, H2Error.NO_ERROR));
      this.closeStream(stream, false);
    }
  }

  closeStream(stream: H2Stream, notifySink: boolean): void {
    if (stream.closed) return;
    stream.closed = true;
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    // Sends that will never complete still release their writers.
    for (const item of stream.outgoing) if (item.done !== undefined) this.afterWrite.push(item.done);
    stream.outgoing.length = 0;
    if (notifySink) stream.sink?.onReset();
    if (this.goingAway) this.maybeFinishGoingAway();
  }

  private maybeFinishGoingAway(): void {
    if (this.streams.size > 0 || this.dead) return;
    // Let the GOAWAY and final frames go out first.
    process.nextTick(() => {
      this.flushOut();
      this.socket.end();
    });
  }

  // ---- Input.

  private onSocketData(chunk: Buffer): void {
    if (this.dead) return;
    let buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    try {
      let pos = 0;
      if (!this.prefaceSeen) {
        const n = Math.min(buf.length, PREFACE.length);
        if (!buf.subarray(0, n).equals(PREFACE.subarray(0, n))) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'bad connection preface');
        if (buf.length < PREFACE.length) {
          this.pending = buf;
          return;
        }
        this.prefaceSeen = true;
        pos = PREFACE.length;
      }
      while (buf.length - pos >= FRAME_HEADER_BYTES && !this.dead) {
        const length = ((buf[pos] as number) << 16) | ((buf[pos + 1] as number) << 8) | (buf[pos + 2] as number);
        if (length > DEFAULT_MAX_FRAME_BYTES) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `frame of ${length} bytes`);
        const end = pos + FRAME_HEADER_BYTES + length;
        if (end > buf.length) break;
        const type = buf[pos + 3] as number;
        const flags = buf[pos + 4] as number;
        const streamId = buf.readUInt32BE(pos + 5) & 0x7fffffff;
        this.onFrame(type, flags, streamId, buf.subarray(pos + FRAME_HEADER_BYTES, end));
        pos = end;
      }
      if (pos < buf.length && !this.dead) this.pending = buf.subarray(pos);
      buf = Buffer.alloc(0);
    } catch (err) {
      if (err instanceof ConnectionError) this.connectionError(err.code, err.message);
      else this.connectionError(H2Error.INTERNAL_ERROR, 'internal error');
    }
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (!this.settingsSeen && type !== FrameType.SETTINGS) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'first frame is not SETTINGS');
    if (this.continuation !== undefined && (type !== FrameType.CONTINUATION || streamId !== this.continuation.streamId)) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'expected CONTINUATION');
    }
    switch (type) {
      case FrameType.DATA:
        return this.onData(flags, streamId, payload);
      case FrameType.HEADERS:
        return this.onHeaders(flags, streamId, payload);
      case FrameType.PRIORITY:
        if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== 5) this.streamError(streamId, H2Error.FRAME_SIZE_ERROR);
        return;
      case FrameType.RST_STREAM:
        return this.onRstStream(streamId, payload);
      case FrameType.SETTINGS:
        return this.onSettings(flags, streamId, payload);
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      case FrameType.PING:
        if (streamId !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PING on a stream');
        if (payload.length !== 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'PING of wrong size');
        if ((flags & Flag.ACK) === 0) {
          const ack = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 8);
          writeFrameHeader(ack, 0, 8, FrameType.PING, Flag.ACK, 0);
          payload.copy(ack, FRAME_HEADER_BYTES);
          this.queueFrame(ack);
        }
        return;
      case FrameType.GOAWAY:
        if (streamId !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (payload.length < 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'short GOAWAY');
        // The client opens no more streams; finish the ones we have, then close.
        this.goingAway = true;
        this.maybeFinishGoingAway();
        return;
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(streamId, payload);
      case FrameType.CONTINUATION:
        return this.onContinuation(flags, streamId, payload);
      default:
        return; // unknown frame types are ignored (RFC 9113 4.1)
    }
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & Flag.ACK) {
      if (payload.length !== 0) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS ACK with payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS of wrong size');
    this.settingsSeen = true;
    for (let off = 0; off < payload.length; off += 6) {
      const id = payload.readUInt16BE(off);
      const value = payload.readUInt32BE(off + 2);
      if (id === Setting.ENABLE_PUSH && value > 1) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'bad ENABLE_PUSH');
      if (id === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW_BYTES) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'INITIAL_WINDOW_SIZE too large');
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW_BYTES) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'stream window overflow');
        }
      }
      if (id === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME_BYTES || value > MAX_FRAME_BYTES_LIMIT) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'bad MAX_FRAME_SIZE');
        this.peerMaxFrameBytes = value;
      }
      // HEADER_TABLE_SIZE: our encoder keeps no dynamic table, so any size suits it.
    }
    this.queueFrame(Buffer.from([0, 0, 0, FrameType.SETTINGS, Flag.ACK, 0, 0, 0, 0]));
    this.unblockAll();
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of wrong size');
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (streamId === 0) {
      if (increment === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW_BYTES) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'connection window overflow');
      this.unblockAll();
      return;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (streamId > this.lastStreamId) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
      return;
    }
    if (increment === 0) return this.streamError(streamId, H2Error.PROTOCOL_ERROR);
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW_BYTES) return this.streamError(streamId, H2Error.FLOW_CONTROL_ERROR);
    if (stream.outgoing.length > 0) this.flushStream(stream);
  }

  private unblockAll(): void {
    for (const s of [...this.blocked]) {
      if (this.sendWindow <= 0) return;
      this.flushStream(s);
    }
  }

  private onRstStream(streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (payload.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'RST_STREAM of wrong size');
    if (streamId > this.lastStreamId) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
    const stream = this.streams.get(streamId);
    if (stream !== undefined) this.closeStream(stream, true);
  }

  private onData(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA on stream 0');
    // Flow control counts the whole payload, padding included, on every stream state.
    this.recvWindow -= payload.length;
    if (this.recvWindow < 0) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'connection window exceeded');
    this.recvSinceUpdate += payload.length;
    if (this.recvSinceUpdate >= this.limits.connectionWindowBytes / 4) {
      this.queueFrame(windowUpdateFrame(0, this.recvSinceUpdate));
      this.recvWindow += this.recvSinceUpdate;
      this.recvSinceUpdate = 0;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (streamId > this.lastStreamId) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA on an idle stream');
      return; // a stream we already closed; frames in flight are ignored
    }
    if (stream.remoteEnded) return this.streamError(streamId, H2Error.STREAM_CLOSED);
    const data = this.unpad(flags, payload);
    stream.recvWindow -= payload.length;
    if (stream.recvWindow < 0) return this.streamError(streamId, H2Error.FLOW_CONTROL_ERROR);
    // Padding is never handed to the sink, so it is released here.
    if (payload.length > data.length) stream.release(payload.length - data.length);
    if (data.length > 0) stream.sink?.onData(data);
    if (flags & Flag.END_STREAM && !stream.closed) {
      stream.remoteEnded = true;
      stream.sink?.onEnd();
    }
  }

  private unpad(flags: number, payload: Buffer): Buffer {
    if ((flags & Flag.PADDED) === 0) return payload;
    if (payload.length < 1) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'padded frame without pad length');
    const padLength = payload[0] as number;
    if (padLength >= payload.length) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'padding longer than the frame');
    return payload.subarray(1, payload.length - padLength);
  }

  private onHeaders(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let block = this.unpad(flags, payload);
    if (flags & Flag.PRIORITY) {
      if (block.length < 5) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'short HEADERS priority');
      block = block.subarray(5);
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if ((flags & Flag.END_HEADERS) === 0) {
      this.continuation = { streamId, endStream, parts: [Buffer.from(block)], bytes: block.length };
      return;
    }
    this.onHeaderBlock(streamId, endStream, block);
  }

  private onContinuation(flags: number, streamId: number, payload: Buffer): void {
    const cont = this.continuation;
    if (cont === undefined) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'unexpected CONTINUATION');
    cont.parts.push(Buffer.from(payload));
    cont.bytes += payload.length;
    // A compressed block can only be so much larger than the list we accept.
    if (cont.bytes > this.limits.maxHeaderListBytes * 2) throw new ConnectionError(H2Error.ENHANCE_YOUR_CALM, 'header block too large');
    if (flags & Flag.END_HEADERS) {
      this.continuation = undefined;
      this.onHeaderBlock(streamId, cont.endStream, Buffer.concat(cont.parts));
    }
  }

  private onHeaderBlock(streamId: number, endStream: boolean, block: Buffer): void {
    // The block is always decoded, even for streams we refuse, to keep the HPACK table in step.
    let headers: HeaderField[] | undefined;
    try {
      headers = this.decoder.decode(block, this.limits.maxHeaderListBytes);
    } catch (err) {
      if (err instanceof HeaderListTooLarge) headers = undefined;
      else if (err instanceof HpackError) throw new ConnectionError(H2Error.COMPRESSION_ERROR, err.message);
      else throw err;
    }
    const existing = this.streams.get(streamId);
    if (existing !== undefined) {
      // Trailers from the client: they must end the stream.
      if (!endStream || existing.remoteEnded) return this.streamError(streamId, H2Error.PROTOCOL_ERROR);
      existing.remoteEnded = true;
      existing.sink?.onEnd();
      return;
    }
    if (streamId % 2 === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'even stream ID from a client');
    if (streamId <= this.lastStreamId) throw new ConnectionError(H2Error.STREAM_CLOSED, 'HEADERS on a closed stream');
    this.lastStreamId = streamId;
    if (this.goingAway || this.streams.size >= this.limits.maxConcurrentStreams) {
      this.queueFrame(rstStreamFrame(streamId, H2Error.REFUSED_STREAM));
      return;
    }
    const stream = new H2Stream(streamId, this, this.peerInitialWindow, this.limits.streamWindowBytes);
    this.streams.set(streamId, stream);
    if (headers === undefined) {
      // Over our MAX_HEADER_LIST_SIZE: refused with HTTP 431 as grpc-go does.
      stream.remoteEnded = endStream;
      stream.headersSent = true;
      stream.localEnded = true;
      stream.pendingTrailers = encodeHeaders([[':status', '431']]);
      this.flushStream(stream);
      return;
    }
    stream.sink = this.accept(stream, headers);
    if (endStream && !stream.closed) {
      stream.remoteEnded = true;
      stream.sink?.onEnd();
    }
  }

  private streamError(streamId: number, code: number): void {
    const stream = this.streams.get(streamId);
    if (stream !== undefined) stream.reset(code);
    else this.queueFrame(rstStreamFrame(streamId, code));
  }

  private connectionError(code: number, message: string): void {
    if (this.dead) return;
    this.queueFrame(goawayFrame(this.lastStreamId, code, message));
    this.flushOut();
    this.dead = true;
    this.socket.end();
    // A client that does not close its side is not waited for long.
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.failAllStreams();
  }

  private onSocketClose(): void {
    this.dead = true;
    this.failAllStreams();
    this.runAfterWrite();
    this.onClose?.();
  }

  private failAllStreams(): void {
    for (const s of [...this.streams.values()]) this.closeStream(s, true);
  }
}
