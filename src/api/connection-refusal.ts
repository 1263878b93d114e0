import type { Socket } from 'node:net';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { statusTrailers } from './grpc-h2/grpc-calls.js';
import { Flag, FRAME_HEADER_BYTES, FrameType, frame, goawayFrame, H2Error, PREFACE, settingsFrame } from './grpc-h2/h2-frames.js';
import { encodeHeaders, HpackDecoder } from './grpc-h2/hpack.js';

/**
 * Turns away a client connection the member will not serve (connection-limit.ts), in words the
 * client can show: an HTTP/1.1 request gets 503; a gRPC client gets its first call answered with
 * RESOURCE_EXHAUSTED and the reason (a plain HTTP/2 request, 503), then GOAWAY with ENHANCE_YOUR_CALM. A bare GOAWAY would do,
 * but grpc-js then reports "Bandwidth exhausted or memory limit exceeded" and Go's gRPC "transport
 * is closing", neither of which says what to change. Bounded: the socket is gone after
 * REFUSAL_WAIT_MS whatever the client does, and no more than REFUSAL_HEAD_BYTES_MAX are read.
 */

/** How long a refused client has to send its first request before it is cut off. */
const REFUSAL_WAIT_MS = 1000;
/** A refused client that sends this much without a request HEADERS frame is cut off. */
const REFUSAL_HEAD_BYTES_MAX = 16 * 1024;
const HTTP2_PREFIX = PREFACE.subarray(0, 3);

export function refuseConnection(socket: Socket, reason: string): void {
  let head = Buffer.alloc(0);
  let http2 = false;
  let lingerTimer: NodeJS.Timeout | undefined;
  const finish = (bytes: Buffer): void => {
    clearTimeout(waitTimer);
    socket.off('data', onData);
    // Half-close and let the client close its side: destroying now could reset the connection
    // before it has read the answer. If it does not, the socket is destroyed a little later.
    socket.end(bytes);
    lingerTimer = setTimeout(() => socket.destroy(), REFUSAL_WAIT_MS);
    lingerTimer.unref();
  };
  const waitTimer = setTimeout(() => {
    if (http2) finish(goawayFrame(0, H2Error.ENHANCE_YOUR_CALM, reason));
    else socket.destroy();
  }, REFUSAL_WAIT_MS);
  waitTimer.unref();
  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    if (head.length < 3) return;
    if (!http2) {
      if (!head.subarray(0, 3).equals(HTTP2_PREFIX)) {
        finish(http503(reason));
        return;
      }
      http2 = true;
      // The server preface: a client reads nothing else before it.
      socket.write(settingsFrame([]));
    }
    const request = firstRequest(head);
    if (request.streamId !== undefined) {
      const answer = request.grpc ? trailersOnly(request.streamId, reason) : h2Status503(request.streamId, reason);
      finish(Buffer.concat([...request.acks, answer, goawayFrame(request.streamId, H2Error.ENHANCE_YOUR_CALM, reason)]));
    } else if (head.length > REFUSAL_HEAD_BYTES_MAX) {
      finish(goawayFrame(0, H2Error.ENHANCE_YOUR_CALM, reason));
    }
  };
  socket.on('data', onData);
  socket.once('error', () => socket.destroy());
  socket.once('close', () => {
    clearTimeout(waitTimer);
    clearTimeout(lingerTimer);
  });
}

interface FirstRequest {
  /** The stream of the first complete HEADERS frame; undefined until one is in. */
  streamId: number | undefined;
  /** Whether it is a gRPC call (else a plain HTTP/2 request, e.g. curl's GET /health over TLS). */
  grpc: boolean;
  /** An ACK for each SETTINGS frame seen (a client may wait for it before it counts the connection as up). */
  acks: Buffer[];
}

/** Scans the whole frames after the client preface for the first request. */
function firstRequest(head: Buffer): FirstRequest {
  const acks: Buffer[] = [];
  let off = PREFACE.length;
  while (head.length >= off + FRAME_HEADER_BYTES) {
    const length = head.readUIntBE(off, 3);
    const type = head[off + 3];
    const flags = head[off + 4] as number;
    const streamId = head.readUInt32BE(off + 5) & 0x7fffffff;
    if (head.length < off + FRAME_HEADER_BYTES + length) break;
    const payload = head.subarray(off + FRAME_HEADER_BYTES, off + FRAME_HEADER_BYTES + length);
    if (type === FrameType.HEADERS && streamId !== 0) return { streamId, grpc: isGrpcRequest(payload, flags), acks };
    if (type === FrameType.SETTINGS && (flags & Flag.ACK) === 0) acks.push(frame(FrameType.SETTINGS, Flag.ACK, 0));
    off += FRAME_HEADER_BYTES + length;
  }
  return { streamId: undefined, grpc: true, acks };
}

/** content-type application/grpc*; a block that cannot be read here (split over CONTINUATION, malformed) counts as gRPC. */
function isGrpcRequest(payload: Buffer, flags: number): boolean {
  if ((flags & Flag.END_HEADERS) === 0) return true;
  let start = 0;
  let end = payload.length;
  if (flags & Flag.PADDED) {
    start = 1;
    end -= payload[0] ?? 0;
  }
  if (flags & Flag.PRIORITY) start += 5;
  if (end < start) return true;
  try {
    const fields = new HpackDecoder().decode(payload.subarray(start, end), REFUSAL_HEAD_BYTES_MAX);
    const contentType = fields.find(([name]) => name === 'content-type')?.[1] ?? '';
    return contentType.startsWith('application/grpc');
  } catch {
    return true;
  }
}

/** A plain HTTP/2 request's answer: 503 and the reason as text. */
function h2Status503(streamId: number, reason: string): Buffer {
  const block = encodeHeaders([
    [':status', '503'],
    ['content-type', 'text/plain; charset=utf-8'],
  ]);
  return Buffer.concat([frame(FrameType.HEADERS, Flag.END_HEADERS, streamId, block), frame(FrameType.DATA, Flag.END_STREAM, streamId, Buffer.from(`${reason}\n`))]);
}

/** A gRPC response with no messages: one HEADERS frame carrying the status, ending the stream. */
function trailersOnly(streamId: number, reason: string): Buffer {
  const block = encodeHeaders([
    [':status', '200'],
    ['content-type', 'application/grpc'],
    ...statusTrailers({ code: GrpcStatus.RESOURCE_EXHAUSTED, details: reason }),
  ]);
  return frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, streamId, block);
}

function http503(reason: string): Buffer {
  const body = `${reason}\n`;
  return Buffer.from(
    'HTTP/1.1 503 Service Unavailable\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n' +
      '\r\n' +
      body,
  );
}
