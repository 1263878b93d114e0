/**
 * The gRPC message frame and a minimal protobuf codec for the watch benchmark's hot path: the
 * watcher processes decode thousands of WatchResponses a second and only need a few fields, and
 * they start faster without loading the proto files (this module imports nothing).
 */

/** gRPC method paths (POST :path) of the calls the benchmark makes. */
export const paths = {
  range: '/etcdserverpb.KV/Range',
  put: '/etcdserverpb.KV/Put',
  txn: '/etcdserverpb.KV/Txn',
  watch: '/etcdserverpb.Watch/Watch',
  snapshot: '/etcdserverpb.Maintenance/Snapshot',
  status: '/etcdserverpb.Maintenance/Status',
} as const;

/** The 5-byte gRPC message prefix (uncompressed flag, big-endian length) and the message. */
export function grpcFrame(message: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(0, 0);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

function lengthDelimited(field: number, bytes: Buffer): Buffer {
  const len: number[] = [];
  let n = bytes.length;
  while (n > 0x7f) {
    len.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  len.push(n);
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...len]), bytes]);
}

/** WatchRequest { create_request (1) = WatchCreateRequest { key (1), range_end (2) } }. */
export function watchCreateRequest(key: Buffer, rangeEnd: Buffer): Buffer {
  return lengthDelimited(1, Buffer.concat([lengthDelimited(1, key), lengthDelimited(2, rangeEnd)]));
}

/** Reads a varint at pos; returns the value (exact below 2^53) and the next position. */
function varint(buf: Buffer, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++] as number;
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [value, pos];
    scale *= 128;
  }
}

/** Calls fn(field, wireType, valueOrStart, end) for each field of a message in buf[start, end). */
function fields(buf: Buffer, start: number, end: number, fn: (field: number, value: number, lenStart: number, lenEnd: number) => void): void {
  let pos = start;
  while (pos < end) {
    let tag: number;
    [tag, pos] = varint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      let v: number;
      [v, pos] = varint(buf, pos);
      fn(field, v, -1, -1);
    } else if (wire === 2) {
      let len: number;
      [len, pos] = varint(buf, pos);
      fn(field, 0, pos, pos + len);
      pos += len;
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else {
      throw new Error(`unsupported protobuf wire type ${wire}`);
    }
  }
}

/** The header revision of any etcd response (field 1 = ResponseHeader, its field 3 = revision). */
export function headerRevision(message: Buffer): number {
  let revision = 0;
  fields(message, 0, message.length, (field, _v, s, e) => {
    if (field === 1 && s >= 0) {
      fields(message, s, e, (f, v) => {
        if (f === 3) revision = v;
      });
    }
  });
  return revision;
}

export interface WatchMessage {
  headerRevision: number;
  watchId: number;
  created: boolean;
  canceled: boolean;
  cancelReason: string;
  /** mod_revision of each event's kv, in order. */
  eventRevisions: number[];
}

export function decodeWatchResponse(message: Buffer): WatchMessage {
  const out: WatchMessage = { headerRevision: 0, watchId: 0, created: false, canceled: false, cancelReason: '', eventRevisions: [] };
  fields(message, 0, message.length, (field, v, s, e) => {
    switch (field) {
      case 1:
        fields(message, s, e, (f, hv) => {
          if (f === 3) out.headerRevision = hv;
        });
        break;
      case 2:
        out.watchId = v;
        break;
      case 3:
        out.created = v !== 0;
        break;
      case 4:
        out.canceled = v !== 0;
        break;
      case 6:
        out.cancelReason = message.toString('utf8', s, e);
        break;
      case 11: {
        // Event { type = 1; kv = 2 (KeyValue { mod_revision = 3 }); prev_kv = 3 }
        let rev = 0;
        fields(message, s, e, (ef, _ev, ks, ke) => {
          if (ef === 2) {
            fields(message, ks, ke, (kf, kv) => {
              if (kf === 3) rev = kv;
            });
          }
        });
        out.eventRevisions.push(rev);
        break;
      }
      default:
        break;
    }
  });
  return out;
}
