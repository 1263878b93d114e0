/**
 * The benchmark's own KV calls over node:http2: the store revision, reading keys back for
 * verification, and loading many keys with a bounded number of puts in flight.
 */
import { decodeRangeResponse, putRequest, rangeRequest, type RangeReply } from './grpc-messages.js';
import { headerRevision, paths } from './grpc-wire.js';
import { GrpcConnection } from './h2-grpc-client.js';

/** The member's store revision (serializable count-only Range, so it does not go through Raft). */
export async function storeRevision(conn: GrpcConnection): Promise<number> {
  const res = await conn.unary(paths.range, rangeRequest(Buffer.from([0]), { serializable: true, countOnly: true }), 10_000);
  if (res.status !== 0 || res.response === undefined) throw new Error(`Range for the revision failed at ${conn.url}: gRPC ${res.status} ${res.message}`);
  return headerRevision(res.response);
}

/** A linearizable Range; throws on a gRPC error. */
export async function range(conn: GrpcConnection, key: Buffer, opts: { rangeEnd?: Buffer; countOnly?: boolean; serializable?: boolean } = {}): Promise<RangeReply> {
  const res = await conn.unary(paths.range, rangeRequest(key, opts), 30_000);
  if (res.status !== 0 || res.response === undefined) throw new Error(`Range ${key.toString()} failed at ${conn.url}: gRPC ${res.status} ${res.message}`);
  return decodeRangeResponse(res.response);
}

/** Current version of each key (0 when absent). */
export async function versions(conn: GrpcConnection, keys: Buffer[]): Promise<number[]> {
  const out: number[] = [];
  for (const key of keys) {
    const r = await range(conn, key);
    out.push(Number(r.kvs[0]?.version ?? 0));
  }
  return out;
}

export interface LoadResult {
  seconds: number;
  putsPerSecond: number;
  /** Puts that failed and were retried. */
  retries: number;
}

/**
 * Puts keyAt(0..count-1) with `inFlight` puts outstanding over `connections` HTTP/2 connections to
 * `url`; a failed put is retried (up to 5 times) so the data set is complete.
 */
export async function loadKeys(url: string, count: number, keyAt: (i: number) => Buffer, value: Buffer, opts: { inFlight: number; connections: number }): Promise<LoadResult> {
  const conns = Array.from({ length: opts.connections }, () => new GrpcConnection(url));
  const t0 = performance.now();
  let next = 0;
  let retries = 0;
  const lane = async (lane: number): Promise<void> => {
    const conn = conns[lane % conns.length] as GrpcConnection;
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const body = putRequest(keyAt(i), value);
      for (let attempt = 0; ; attempt++) {
        const res = await conn.unary(paths.put, body, 30_000);
        if (res.status === 0) break;
        if (attempt >= 5) throw new Error(`put #${i} failed 6 times at ${url}: gRPC ${res.status} ${res.message}`);
        retries++;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.inFlight }, (_u, l) => lane(l)));
  } finally {
    for (const c of conns) c.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, putsPerSecond: count / seconds, retries };
}

/** An 8-byte key: a letter and 7 digits ("k0001234"). */
export function key8(prefix: string, n: number): Buffer {
  const k = Buffer.from(`${prefix}${String(n).padStart(8 - prefix.length, '0')}`);
  if (k.length !== 8) throw new Error(`key ${k.toString()} is not 8 bytes`);
  return k;
}

/** A deterministic printable value of `bytes` bytes. */
export function valueOf(bytes: number, seed = 0): Buffer {
  const v = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) v[i] = 0x61 + ((i + seed) % 26);
  return v;
}
