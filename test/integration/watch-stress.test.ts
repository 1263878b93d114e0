// Watch under load, checked event by event, against real etcd 3.4 and ketch side by side
// (KETCH_IMPLS, default both) on 3-member clusters.
//
// 1,000 watchers on 15 bidirectional Watch streams (5 per member, each on its own HTTP/2
// connection, as an apiserver's etcd clients would hold them) watch overlapping prefixes of a key
// space /s/<a>/<b>/<c>, single keys (many of them hot), key ranges, from-key ranges and a few keys
// outside it, some with prev_kv, some with NOPUT/NODELETE (or both: they must get nothing), some
// from an old revision (historic replay while writes go on), some from a future one. They are
// created in waves while 10,000 writes run 64 at a time through all three members: puts, overwrites,
// single and range deletes, multi-op txns touching several keys in one revision, lease-attached
// puts, leases revoked mid-run (their keys go in one revision), and large values (so ketch's
// in-memory recent-events log overflows and old revisions replay from its MVCC store). One stream
// per member stops reading for a while, twice (slow consumers: watchers fall behind and catch up).
//
// Ground truth: the write responses (each write's header revision, deleted counts, the revoke
// order) replayed through a model store, revision by revision; every revision must be claimed by
// exactly one write or revoke. The model is checked against the server's MVCC with Range at
// sampled revisions and at the end. Then every watcher must have received exactly the model's
// events that match its range and filters from its start revision on, each once, in order, with the
// right version, create/mod revisions and lease, prev_kv only (and exactly) when asked, and each
// revision's events in one response. Any missing, duplicated, reordered, extra or wrong event
// fails the test. A seed (KETCH_STRESS_SEED) reproduces the plan; it is printed in the summary.

import { createHash } from "node:crypto";

import * as grpc from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";

import { etcdServiceClients, etcdServiceDefinitions } from "../../src/api/etcd-proto.js";
import { SeededRandom } from "../../src/util/prng.js";
import { useCluster } from "./cluster-fixture.js";
import { destroyAllClusters, int, parseImpls, sleep } from "./cluster.js";

const IMPLS = parseImpls(process.env.KETCH_IMPLS ?? "etcd,ketch");
const SEED = Number(process.env.KETCH_STRESS_SEED ?? Date.now() % 1_000_000_007);

const WATCHERS = 1000;
const WRITES = 10_000;
const STREAMS_PER_MEMBER = 5;
const WRITE_CONCURRENCY = 64;
const LEASES = 8;
/** Leases revoked mid-run, one after another, when this share of the writes is done. */
const REVOKE_AT = [0.3, 0.45, 0.6, 0.75, 0.9];
/** Watcher waves: created before the writes, when this share of them is done, and after them (Infinity). */
const WAVES: ReadonlyArray<{ at: number; count: number }> = [
  { at: 0, count: 400 },
  { at: 0.15, count: 140 },
  { at: 0.35, count: 140 },
  { at: 0.55, count: 140 },
  { at: 0.75, count: 130 },
  { at: Number.POSITIVE_INFINITY, count: 50 },
];
/**
 * Slow consumers: streams (stream i is on member i % 3) that stop reading between these shares of
 * the writes. Thousands of responses pile up for them, more than either server buffers per stream,
 * so their watchers fall behind (etcd's victims) and must catch up from history.
 */
const STALLS: ReadonlyArray<{ from: number; to: number; streamIds: readonly number[] }> = [
  { from: 0.2, to: 0.35, streamIds: [0, 1, 2] },
  { from: 0.4, to: 0.8, streamIds: [3, 4, 5] },
];
/** Revisions at which the model is compared with a Range of everything. */
const RANGE_SAMPLES = 24;
const DELIVERY_TIMEOUT_MS = 120_000;
/** After every watcher has its count: how long to keep listening for extra or duplicate events. */
const QUIET_MS = 1500;
const CALL_DEADLINE_MS = 30_000;

type Msg = Record<string, unknown>;

// ---- The key space.

const A = 8;
const B = 8;
const C = 8;
const regularKeys: string[] = [];
for (let a = 0; a < A; a++) for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) regularKeys.push(`/s/${a}/${b}/${c}`);
/** Keys that a prefix "/s/<a>" matches but "/s/<a>/" does not, and keys outside /s/. */
const oddKeys = Array.from({ length: A }, (_unused, a) => `/s/${a}x`);
const noiseKeys = Array.from({ length: 16 }, (_unused, i) => `/t/${String(i).padStart(2, "0")}`);
const allKeys = [...regularKeys, ...oddKeys, ...noiseKeys].sort();
/**
 * Keys with large values, watched only by the whole-keyspace watchers. Their ~12 MB (~24 MB with
 * prev_kv) push the oldest revisions out of ketch's in-memory recent-events log (16 MB), so historic
 * watchers replay from the MVCC store as well, not only from that log.
 */
const bigKeys = Array.from({ length: 8 }, (_unused, i) => `/b/${i}`);
const BIG_VALUE_BYTES = 40_000;
/** A tenth of the writes go to these, so some watchers see long version chains. */
const HOT_KEYS = 10;

/** etcd's prefix range end: the prefix with its last byte incremented. */
function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, "latin1");
  let i = bytes.length - 1;
  while (i >= 0 && bytes[i] === 0xff) i--;
  if (i < 0) return "\0";
  bytes[i] = (bytes[i] as number) + 1;
  return bytes.subarray(0, i + 1).toString("latin1");
}

// ---- Watcher specs.

interface WatchSpec {
  kind: string;
  key: string;
  /** "" for a single key, "\0" for every key >= key, else the exclusive end. */
  rangeEnd: string;
  prevKv: boolean;
  noPut: boolean;
  noDelete: boolean;
  /** What the create request asks for: 0 = from now. */
  startRevision: number;
  /** The stream (index) carrying it. */
  stream: number;
}

function matches(spec: WatchSpec, key: string): boolean {
  if (spec.rangeEnd === "") return key === spec.key;
  return key >= spec.key && (spec.rangeEnd === "\0" || key < spec.rangeEnd);
}

function specText(spec: WatchSpec): string {
  const range = spec.rangeEnd === "" ? `key ${spec.key}` : spec.rangeEnd === "\0" ? `from-key ${JSON.stringify(spec.key)}` : `[${spec.key}, ${JSON.stringify(spec.rangeEnd)})`;
  const opts = [spec.prevKv ? "prev_kv" : "", spec.noPut ? "NOPUT" : "", spec.noDelete ? "NODELETE" : ""].filter((o) => o !== "").join(",");
  return `${spec.kind} ${range} start=${spec.startRevision}${opts === "" ? "" : ` ${opts}`} stream=${spec.stream}`;
}

/** One watcher's range, by kind; the weights make ~260-290k delivered events in all (decoding them is this process's main cost). */
function randomRange(rng: SeededRandom, hot: readonly string[]): Pick<WatchSpec, "kind" | "key" | "rangeEnd"> {
  const x = rng.next();
  const prefix = (kind: string, p: string) => ({ kind, key: p, rangeEnd: prefixEnd(p) });
  if (x < 0.003) return { kind: "all", key: "\0", rangeEnd: "\0" };
  if (x < 0.007) return { kind: "from-key", key: `/s/${rng.int(A)}`, rangeEnd: "\0" };
  if (x < 0.01) return prefix("prefix /s/", "/s/");
  if (x < 0.03) return prefix("prefix /t/", rng.chance(0.5) ? "/t/" : `/t/0${rng.int(10)}`);
  if (x < 0.06) return prefix("prefix /s/a/", `/s/${rng.int(A)}/`);
  if (x < 0.07) return prefix("prefix /s/a", `/s/${rng.int(A)}`);
  if (x < 0.457) return prefix("prefix /s/a/b/", `/s/${rng.int(A)}/${rng.int(B)}/`);
  if (x < 0.537) return prefix("prefix = key", rng.pick(regularKeys));
  if (x < 0.687) {
    const from = rng.int(allKeys.length - 1);
    const to = Math.min(allKeys.length, from + 1 + rng.int(24));
    const end = to === allKeys.length ? "/u" : (allKeys[to] as string);
    return { kind: "range", key: allKeys[from] as string, rangeEnd: end };
  }
  return { kind: "key", key: rng.chance(0.5) ? rng.pick(hot) : rng.pick(allKeys), rangeEnd: "" };
}

// ---- The model: what the store must have done, rebuilt from the write responses.

interface Kv {
  key: string;
  value: string;
  create: number;
  mod: number;
  version: number;
  /** Decimal lease ID, "0" for none. */
  lease: string;
}

interface ModelEvent {
  rev: number;
  type: "PUT" | "DELETE";
  kv: Kv;
  prev: Kv | undefined;
}

type SubOp = { t: "put"; key: string; value: string; lease: string } | { t: "del"; key: string; end: string };

/** An acknowledged write: its ops (a plain put or delete is a one-op list) and what the response said. */
interface DoneWrite {
  ops: SubOp[];
  /** Header revision of the response. */
  rev: number;
  /** `deleted` of each del op, in order. */
  deleted: number[];
}

interface DoneRevoke {
  lease: string;
  /** Header revision of the LeaseRevoke response (at or after the revoke's own revision). */
  respRev: number;
}

/** Large values by length and digest, so the texts stay small. */
function valueText(value: string): string {
  if (value.length <= 64) return value;
  return `${value.slice(0, 12)}…(${value.length} bytes, sha1 ${createHash("sha1").update(value, "latin1").digest("hex").slice(0, 16)})`;
}

function kvText(kv: Kv): string {
  return `c=${kv.create} m=${kv.mod} v=${kv.version} l=${kv.lease} val=${valueText(kv.value)}`;
}

/** The canonical text both sides of the comparison are turned into. */
function eventText(rev: number, type: string, kv: Kv, prev: Kv | undefined, withPrev: boolean): string {
  const head = `${rev} ${type} ${kv.key} ${kvText(kv)}`;
  return withPrev && prev !== undefined ? `${head} prev=[${prev.key} ${kvText(prev)}]` : head;
}

const modelEventText = (e: ModelEvent, withPrev: boolean): string => eventText(e.rev, e.type, e.kv, e.prev, withPrev);

class Model {
  readonly state = new Map<string, Kv>();
  readonly events: ModelEvent[] = [];
  /** State copies at sampled revisions, for the Range cross-check. */
  readonly snapshots = new Map<number, Map<string, Kv>>();

  /**
   * Replays revisions (firstRev..lastRev): each is one acknowledged write's, or else the next
   * revoke's (revokes ran one at a time, so they took revisions in order; one whose lease had no
   * keys left took none). Throws on anything the responses cannot explain.
   */
  constructor(writes: readonly DoneWrite[], revokes: readonly DoneRevoke[], firstRev: number, lastRev: number, sampleRevs: ReadonlySet<number>) {
    const byRev = new Map<number, DoneWrite>();
    for (const w of writes) {
      const changes = w.ops.some((op) => op.t === "put") || w.deleted.some((n) => n > 0);
      if (!changes) continue; // a delete of nothing takes no revision
      const other = byRev.get(w.rev);
      if (other !== undefined) throw new Error(`two acknowledged writes claim revision ${w.rev}: ${JSON.stringify(other.ops)} and ${JSON.stringify(w.ops)}`);
      if (w.rev < firstRev || w.rev > lastRev) throw new Error(`write ${JSON.stringify(w.ops)} has revision ${w.rev} outside ${firstRev}..${lastRev}`);
      byRev.set(w.rev, w);
    }
    const revoked = new Set<string>();
    let nextRevoke = 0;
    if (sampleRevs.has(firstRev - 1)) this.snapshots.set(firstRev - 1, new Map(this.state));
    for (let rev = firstRev; rev <= lastRev; rev++) {
      const w = byRev.get(rev);
      if (w !== undefined) {
        this.applyWrite(w, rev, revoked);
      } else {
        while (nextRevoke < revokes.length && this.leaseKeys((revokes[nextRevoke] as DoneRevoke).lease).length === 0) {
          revoked.add((revokes[nextRevoke] as DoneRevoke).lease);
          nextRevoke++;
        }
        const r = revokes[nextRevoke++];
        if (r === undefined) throw new Error(`revision ${rev} is claimed by no acknowledged write and no revoke`);
        if (r.respRev < rev) throw new Error(`revoke of lease ${r.lease} answered revision ${r.respRev}, before revision ${rev} it must have taken`);
        for (const key of this.leaseKeys(r.lease)) this.remove(key, rev);
        revoked.add(r.lease);
      }
      if (sampleRevs.has(rev)) this.snapshots.set(rev, new Map(this.state));
    }
    for (const r of revokes.slice(nextRevoke)) {
      const left = this.leaseKeys(r.lease);
      if (left.length > 0) throw new Error(`lease ${r.lease} was revoked but no revision deleted its keys ${left.join(" ")}`);
    }
  }

  private leaseKeys(lease: string): string[] {
    return [...this.state.values()].filter((kv) => kv.lease === lease).map((kv) => kv.key).sort();
  }

  private applyWrite(w: DoneWrite, rev: number, revoked: ReadonlySet<string>): void {
    let del = 0;
    for (const op of w.ops) {
      if (op.t === "put") {
        if (revoked.has(op.lease)) throw new Error(`put of ${op.key} at revision ${rev} was accepted with lease ${op.lease}, revoked before`);
        const prev = this.state.get(op.key);
        const kv: Kv = { key: op.key, value: op.value, create: prev?.create ?? rev, mod: rev, version: (prev?.version ?? 0) + 1, lease: op.lease };
        this.state.set(op.key, kv);
        this.events.push({ rev, type: "PUT", kv, prev });
      } else {
        const keys =
          op.end === "" ? (this.state.has(op.key) ? [op.key] : []) : [...this.state.keys()].filter((k) => k >= op.key && k < op.end).sort();
        const said = w.deleted[del++];
        if (said !== keys.length) {
          throw new Error(`delete ${op.key}${op.end === "" ? "" : `..${op.end}`} at revision ${rev} answered deleted=${said}, the model has ${keys.length} (${keys.join(" ")})`);
        }
        for (const key of keys) this.remove(key, rev);
      }
    }
  }

  private remove(key: string, rev: number): void {
    const prev = this.state.get(key);
    if (prev === undefined) throw new Error(`model: deleting absent ${key}`);
    this.state.delete(key);
    this.events.push({ rev, type: "DELETE", kv: { key, value: "", create: 0, mod: rev, version: 0, lease: "0" }, prev });
  }
}

// ---- The check: one watcher's received events against its expected ones.

/** Undefined when equal; otherwise what is wrong, with a few examples of each kind. */
function diffEvents(expected: readonly string[], got: readonly string[]): string | undefined {
  if (expected.length === got.length && expected.every((e, i) => e === got[i])) return undefined;
  const count = (list: readonly string[]): Map<string, number> => {
    const m = new Map<string, number>();
    for (const e of list) m.set(e, (m.get(e) ?? 0) + 1);
    return m;
  };
  const want = count(expected);
  const have = count(got);
  const missing: string[] = [];
  const extra: string[] = [];
  const duplicated: string[] = [];
  for (const [e, n] of want) if ((have.get(e) ?? 0) < n) missing.push(e);
  for (const [e, n] of have) {
    const w = want.get(e) ?? 0;
    if (w === 0) extra.push(e);
    else if (n > w) duplicated.push(`${e} (×${n})`);
  }
  let first = 0;
  while (first < expected.length && first < got.length && expected[first] === got[first]) first++;
  const parts = [`expected ${expected.length} events, got ${got.length}; first difference at #${first}: expected ${expected[first] ?? "(end)"}, got ${got[first] ?? "(end)"}`];
  const few = (list: string[]): string => `${list.slice(0, 3).join(" | ")}${list.length > 3 ? ` | …(${list.length - 3} more)` : ""}`;
  if (missing.length > 0) parts.push(`missing ${missing.length}: ${few(missing)}`);
  if (duplicated.length > 0) parts.push(`duplicated ${duplicated.length}: ${few(duplicated)}`);
  if (extra.length > 0) parts.push(`unexpected ${extra.length}: ${few(extra)}`);
  if (missing.length === 0 && duplicated.length === 0 && extra.length === 0) parts.push("same events, wrong order");
  return parts.join("\n    ");
}

// ---- grpc-js clients with our protos, each on its own HTTP/2 connection.

const address = (url: string): string => url.replace(/^http:\/\//, "");
const channelOptions = { "grpc.use_local_subchannel_pool": 1, "grpc.max_receive_message_length": 64 * 1024 * 1024 };

function unary(client: grpc.Client, method: string, request: Msg): Promise<Msg> {
  const fn = (client as unknown as Record<string, (req: Msg, opts: grpc.CallOptions, done: (error: grpc.ServiceError | null, response: Msg) => void) => void>)[method];
  if (fn === undefined) throw new Error(`no ${method} on the client`);
  return new Promise((resolve, reject) => {
    fn.call(client, request, { deadline: Date.now() + CALL_DEADLINE_MS }, (error, response) => (error !== null ? reject(error) : resolve(response)));
  });
}

const headerRev = (res: Msg): number => int((res.header as Msg).revision);

function fromProtoKv(m: Msg): Kv {
  return {
    key: (m.key as Buffer).toString("latin1"),
    value: (m.value as Buffer).toString("latin1"),
    create: int(m.create_revision),
    mod: int(m.mod_revision),
    version: int(m.version),
    lease: String(m.lease),
  };
}

// Watch responses are decoded here rather than by proto-loader: ~400k events make the generic
// decode (int64 → Long → string, then toObject) most of this process's CPU on a 2-core machine.
// Field numbers are those of proto/etcd (WatchResponse, ResponseHeader, mvccpb.Event/KeyValue).

interface WatchReply {
  watchId: number;
  headerRev: number;
  created: boolean;
  canceled: boolean;
  compactRevision: number;
  cancelReason: string;
  fragment: boolean;
  events: Array<{ type: "PUT" | "DELETE"; kv: Kv; prev: Kv | undefined }>;
}

/** A protobuf reader for exactly the fields above. */
class WireReader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** A varint as a number: exact for the revisions, versions and lengths read with it. */
  num(): number {
    let value = 0;
    let scale = 1;
    let byte: number;
    do {
      byte = this.buf[this.pos++] as number;
      value += (byte & 0x7f) * scale;
      scale *= 128;
    } while (byte & 0x80);
    return value;
  }

  /** A varint as a signed 64-bit integer (lease IDs, watch IDs of -1). */
  int64(): bigint {
    let value = 0n;
    let shift = 0n;
    let byte: number;
    do {
      byte = this.buf[this.pos++] as number;
      value |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
    } while (byte & 0x80);
    return BigInt.asIntN(64, value);
  }

  text(): string {
    const n = this.num();
    const s = this.buf.toString("latin1", this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  skip(tag: number): void {
    const wireType = tag & 7;
    if (wireType === 0) this.num();
    else if (wireType === 2) this.pos += this.num();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`unexpected protobuf wire type ${wireType}`);
  }
}

function decodeKv(r: WireReader, end: number): Kv {
  const kv: Kv = { key: "", value: "", create: 0, mod: 0, version: 0, lease: "0" };
  while (r.pos < end) {
    const tag = r.num();
    if (tag === (1 << 3) + 2) kv.key = r.text();
    else if (tag === 2 << 3) kv.create = r.num();
    else if (tag === 3 << 3) kv.mod = r.num();
    else if (tag === 4 << 3) kv.version = r.num();
    else if (tag === (5 << 3) + 2) kv.value = r.text();
    else if (tag === 6 << 3) kv.lease = r.int64().toString();
    else r.skip(tag);
  }
  return kv;
}

function decodeWatchResponse(buf: Buffer): WatchReply {
  const r = new WireReader(buf);
  const out: WatchReply = { watchId: 0, headerRev: 0, created: false, canceled: false, compactRevision: 0, cancelReason: "", fragment: false, events: [] };
  while (!r.done) {
    const tag = r.num();
    switch (tag) {
      case (1 << 3) + 2: {
        const end = r.num() + r.pos;
        while (r.pos < end) {
          const t = r.num();
          if (t === 3 << 3) out.headerRev = r.num();
          else r.skip(t);
        }
        break;
      }
      case 2 << 3:
        out.watchId = Number(r.int64());
        break;
      case 3 << 3:
        out.created = r.num() !== 0;
        break;
      case 4 << 3:
        out.canceled = r.num() !== 0;
        break;
      case 5 << 3:
        out.compactRevision = Number(r.int64());
        break;
      case (6 << 3) + 2:
        out.cancelReason = r.text();
        break;
      case 7 << 3:
        out.fragment = r.num() !== 0;
        break;
      case (11 << 3) + 2: {
        const end = r.num() + r.pos;
        let type: "PUT" | "DELETE" = "PUT";
        let kv: Kv | undefined;
        let prev: Kv | undefined;
        while (r.pos < end) {
          const t = r.num();
          if (t === 1 << 3) type = r.num() === 1 ? "DELETE" : "PUT";
          else if (t === (2 << 3) + 2) kv = decodeKv(r, r.num() + r.pos);
          else if (t === (3 << 3) + 2) prev = decodeKv(r, r.num() + r.pos);
          else r.skip(t);
        }
        if (kv === undefined) throw new Error("watch event without kv");
        out.events.push({ type, kv, prev });
        break;
      }
      default:
        r.skip(tag);
    }
  }
  return out;
}

interface WatchRecord {
  spec: WatchSpec;
  id: number;
  /** Header revision of the created response. */
  createdRev: number | undefined;
  got: string[];
  /** Mod revision of the last event received. */
  lastRev: number;
  /** Event responses carrying more than one revision (history batches; ketch also batches live ones). */
  batches: number;
  /** Protocol violations seen on receipt (cancels, split revisions, bad headers). */
  anomalies: string[];
}

/** One Watch stream; dispatches responses to its watchers' records as they arrive. */
class StressStream {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<Msg, WatchReply>;
  readonly watches = new Map<number, WatchRecord>();
  private nextId = 1;
  error: grpc.ServiceError | undefined;
  stray: string[] = [];

  constructor(readonly url: string) {
    this.client = new grpc.Client(address(url), grpc.credentials.createInsecure(), channelOptions);
    const watch = etcdServiceDefinitions().Watch.Watch as grpc.MethodDefinition<Msg, Msg>;
    this.call = this.client.makeBidiStreamRequest<Msg, WatchReply>(watch.path, watch.requestSerialize, decodeWatchResponse);
    this.call.on("data", (res: WatchReply) => this.onResponse(res));
    this.call.on("error", (error: grpc.ServiceError) => (this.error = error));
  }

  /** Creates the watch with a client-chosen ID (1, 2, ... on this stream). */
  create(spec: WatchSpec): WatchRecord {
    const id = this.nextId++;
    const rec: WatchRecord = { spec, id, createdRev: undefined, got: [], lastRev: 0, batches: 0, anomalies: [] };
    this.watches.set(id, rec);
    const filters = [...(spec.noPut ? ["NOPUT"] : []), ...(spec.noDelete ? ["NODELETE"] : [])];
    this.call.write({
      create_request: {
        key: Buffer.from(spec.key, "latin1"),
        range_end: Buffer.from(spec.rangeEnd, "latin1"),
        start_revision: String(spec.startRevision),
        prev_kv: spec.prevKv,
        filters,
        watch_id: String(id),
      },
    });
    return rec;
  }

  private onResponse(res: WatchReply): void {
    const rec = this.watches.get(res.watchId);
    if (rec === undefined) {
      if (this.stray.length < 5) this.stray.push(JSON.stringify({ ...res, events: res.events.length }));
      return;
    }
    if (res.created) {
      if (rec.createdRev !== undefined) rec.anomalies.push("created twice");
      rec.createdRev = res.headerRev;
    }
    if (res.canceled) rec.anomalies.push(`canceled: reason=${JSON.stringify(res.cancelReason)} compact_revision=${res.compactRevision}`);
    if (res.fragment) rec.anomalies.push("fragment set although not asked for");
    if (res.events.length === 0) return;
    if (rec.createdRev === undefined) rec.anomalies.push("events before the created response");
    let maxRev = 0;
    for (const [i, e] of res.events.entries()) {
      // A revision's events come in one response (no fragmenting asked), never split over two.
      if (i === 0 && e.kv.mod === rec.lastRev && rec.anomalies.length < 10) rec.anomalies.push(`revision ${e.kv.mod} split over two responses`);
      rec.got.push(eventText(e.kv.mod, e.type, e.kv, e.prev, true));
      maxRev = Math.max(maxRev, e.kv.mod);
      rec.lastRev = e.kv.mod;
    }
    if ((res.events[0] as { kv: Kv }).kv.mod !== maxRev) rec.batches++;
    if (res.headerRev < maxRev && rec.anomalies.length < 10) rec.anomalies.push(`header revision ${res.headerRev} below its event revision ${maxRev}`);
  }

  /** Stops reading (a slow consumer): the server must hold events back, not drop them or block. */
  pause(): void {
    this.call.pause();
  }

  resume(): void {
    this.call.resume();
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

// ---- The test.

afterAll(destroyAllClusters, 60_000);

describe("watch stress checker", () => {
  it("catches missing, duplicated, reordered, extra and wrong events", () => {
    const events = ["5 PUT /a v=1", "6 PUT /b v=1", "7 DELETE /a v=0"];
    expect(diffEvents(events, [...events])).toBeUndefined();
    expect(diffEvents(events, [events[0], events[2]] as string[])).toMatch(/missing 1: 6 PUT \/b/);
    expect(diffEvents(events, [...events, events[2]] as string[])).toMatch(/duplicated 1: 7 DELETE \/a v=0 \(×2\)/);
    expect(diffEvents(events, [events[1], events[0], events[2]] as string[])).toMatch(/same events, wrong order/);
    expect(diffEvents(events, [...events, "8 PUT /c v=1"])).toMatch(/unexpected 1: 8 PUT \/c/);
    expect(diffEvents(events, [events[0], "6 PUT /b v=2", events[2]] as string[])).toMatch(/missing 1: 6 PUT \/b v=1[^]*unexpected 1: 6 PUT \/b v=2/);
  });
});

describe.each(IMPLS)("%s: watch stress", (impl) => {
  const cluster = useCluster(impl, 3);

  it(`${WATCHERS} watchers on ${3 * STREAMS_PER_MEMBER} streams over 3 members see exactly their events of ${WRITES} concurrent writes`, async () => {
    const t0 = Date.now();
    const rng = new SeededRandom(SEED);
    const urls = cluster().endpoints;
    const kvs = urls.map((url) => new (etcdServiceClients().KV)(address(url), grpc.credentials.createInsecure(), channelOptions));
    const leaseClients = urls.map((url) => new (etcdServiceClients().Lease)(address(url), grpc.credentials.createInsecure(), channelOptions));
    const streams = Array.from({ length: 3 * STREAMS_PER_MEMBER }, (_unused, i) => new StressStream(urls[i % urls.length] as string));
    try {
      // A fresh cluster: nothing in the key space yet.
      const before = await unary(kvs[0] as grpc.Client, "Range", { key: Buffer.from([0]), range_end: Buffer.from([0]) });
      expect(before.kvs).toEqual([]);
      const baseRev = headerRev(before);
      let maxSeenRev = baseRev;

      const leases: string[] = [];
      for (let i = 0; i < LEASES; i++) {
        const res = await unary(leaseClients[i % 3] as grpc.Client, "LeaseGrant", { TTL: "3600", ID: "0" });
        leases.push(String(BigInt(String(res.ID))));
      }
      const revokedSlots = new Set<number>();
      const hot = Array.from({ length: HOT_KEYS }, () => rng.pick(regularKeys));

      // Watchers, wave by wave.
      const records: WatchRecord[] = [];
      const createWave = (count: number, wave: number, final: boolean): void => {
        for (let i = 0; i < count; i++) {
          const range = final && i < 2 ? { kind: "all (reference)", key: "\0", rangeEnd: "\0" } : randomRange(rng, hot);
          const both = rng.chance(0.02);
          const noPut = both || rng.chance(0.12);
          const noDelete = both || (!noPut && rng.chance(0.12));
          const prevKv = (final && i < 2) || rng.chance(0.4);
          let startRevision = 0;
          const x = rng.next();
          if (final) {
            startRevision = i < 2 ? baseRev + 1 : baseRev + 1 + rng.int(maxSeenRev - baseRev);
          } else if (wave === 0) {
            if (x < 0.1) startRevision = baseRev + 1;
            else if (x < 0.15) startRevision = baseRev + 1 + rng.int(WRITES);
          } else if (x < 0.1) {
            startRevision = baseRev + 1;
          } else if (x < 0.55) {
            startRevision = baseRev + 1 + rng.int(maxSeenRev - baseRev);
          } else if (x < 0.65) {
            startRevision = maxSeenRev + 1 + rng.int(3000);
          }
          const s = rng.int(streams.length);
          records.push((streams[s] as StressStream).create({ ...range, prevKv, noPut, noDelete, startRevision, stream: s }));
        }
      };

      // The write plan (fixed by the seed; which write lands first is up to the servers).
      type Planned = { t: "put"; key: string; slot: number | undefined } | { t: "del"; key: string; end: string } | { t: "txn"; ops: Array<{ put: boolean; key: string; slot: number | undefined }> };
      const slot = (): number | undefined => (rng.chance(0.25) ? rng.int(LEASES) : undefined);
      const plan: Planned[] = [];
      for (let i = 0; i < WRITES; i++) {
        const x = rng.next();
        if (x < 0.03) plan.push({ t: "put", key: rng.pick(bigKeys), slot: slot() });
        else if (x < 0.58) plan.push({ t: "put", key: rng.pick(regularKeys), slot: slot() });
        else if (x < 0.62) plan.push({ t: "put", key: rng.chance(0.5) ? rng.pick(oddKeys) : rng.pick(noiseKeys), slot: slot() });
        else if (x < 0.72) plan.push({ t: "put", key: rng.pick(hot), slot: slot() });
        else if (x < 0.86) plan.push({ t: "del", key: rng.pick(regularKeys), end: "" });
        else if (x < 0.89) {
          const p = rng.chance(0.8) ? `/s/${rng.int(A)}/${rng.int(B)}/` : `/s/${rng.int(A)}/${rng.int(B)}/${rng.int(C)}`;
          plan.push({ t: "del", key: p, end: prefixEnd(p) });
        } else {
          const n = 2 + rng.int(4);
          const keys = new Set<string>();
          while (keys.size < n) keys.add(rng.chance(0.3) ? rng.pick(hot) : rng.pick(regularKeys));
          const ops = [...keys].map((key, j) => ({ put: j === 0 || rng.chance(0.7), key, slot: slot() }));
          plan.push({ t: "txn", ops: rng.chance(0.5) ? ops : ops.reverse() });
        }
      }

      const writes: DoneWrite[] = [];
      const revokes: DoneRevoke[] = [];
      const failures: string[] = [];
      let leaseNotFound = 0;
      let next = 0;
      let completed = 0;
      const leaseOf = (s: number | undefined): string => {
        if (s === undefined) return "0";
        let k = s;
        while (revokedSlots.has(k)) k = (k + 1) % LEASES; // a live lease instead of a revoked one
        return leases[k] as string;
      };
      const writer = async (w: number): Promise<void> => {
        const client = kvs[w % 3] as grpc.Client;
        while (next < plan.length && failures.length === 0) {
          const i = next++;
          const p = plan[i] as Planned;
          const value = bigKeys.includes(p.t === "put" ? p.key : "") ? `v${i}:`.padEnd(BIG_VALUE_BYTES, "x") : `v${i}`;
          let ops: SubOp[];
          try {
            if (p.t === "put") {
              const lease = leaseOf(p.slot);
              ops = [{ t: "put", key: p.key, value, lease }];
              const res = await unary(client, "Put", { key: Buffer.from(p.key), value: Buffer.from(value), lease });
              writes.push({ ops, rev: headerRev(res), deleted: [] });
            } else if (p.t === "del") {
              ops = [{ t: "del", key: p.key, end: p.end }];
              const res = await unary(client, "DeleteRange", { key: Buffer.from(p.key), range_end: Buffer.from(p.end) });
              writes.push({ ops, rev: headerRev(res), deleted: [int(res.deleted)] });
            } else {
              ops = p.ops.map((o, j): SubOp => (o.put ? { t: "put", key: o.key, value: `${value}.${j}`, lease: leaseOf(o.slot) } : { t: "del", key: o.key, end: "" }));
              const res = await unary(client, "Txn", {
                success: ops.map((o) =>
                  o.t === "put"
                    ? { request_put: { key: Buffer.from(o.key), value: Buffer.from(o.value), lease: o.lease } }
                    : { request_delete_range: { key: Buffer.from(o.key) } },
                ),
              });
              if (res.succeeded !== true) throw new Error("txn without compares did not succeed");
              const deleted = (res.responses as Msg[]).filter((r) => r.response === "response_delete_range").map((r) => int((r.response_delete_range as Msg).deleted));
              writes.push({ ops, rev: headerRev(res), deleted });
            }
            maxSeenRev = Math.max(maxSeenRev, (writes.at(-1) as DoneWrite).rev);
          } catch (error) {
            const e = error as grpc.ServiceError;
            // A put racing its lease's revoke may lose; anything else is a failure.
            if (e.code === grpc.status.NOT_FOUND && e.details === "etcdserver: requested lease not found") leaseNotFound++;
            else failures.push(`write #${i} ${JSON.stringify(p)}: ${e.message}`);
          }
          completed++;
        }
      };
      const until = async (done: () => boolean): Promise<void> => {
        while (!done() && failures.length === 0) await sleep(5);
      };
      const revoker = async (): Promise<void> => {
        for (const [k, share] of REVOKE_AT.entries()) {
          await until(() => completed >= share * WRITES);
          if (failures.length > 0) return;
          revokedSlots.add(k);
          const res = await unary(leaseClients[k % 3] as grpc.Client, "LeaseRevoke", { ID: leases[k] });
          revokes.push({ lease: leases[k] as string, respRev: headerRev(res) });
          maxSeenRev = Math.max(maxSeenRev, headerRev(res));
        }
      };
      const director = async (): Promise<void> => {
        for (const [wave, { at, count }] of WAVES.entries()) {
          if (!Number.isFinite(at)) return;
          await until(() => completed >= at * WRITES);
          createWave(count, wave, false);
        }
      };

      const staller = async (): Promise<void> => {
        for (const { from, to, streamIds } of STALLS) {
          await until(() => completed >= from * WRITES);
          for (const i of streamIds) streams[i]?.pause();
          await until(() => completed >= to * WRITES);
          for (const i of streamIds) streams[i]?.resume();
        }
      };

      const tWrites = Date.now();
      await Promise.all([director(), revoker(), staller(), ...Array.from({ length: WRITE_CONCURRENCY }, (_unused, w) => writer(w))]);
      const writesMs = Date.now() - tWrites;
      expect(failures).toEqual([]);
      const final = WAVES.at(-1) as { count: number };
      createWave(final.count, WAVES.length - 1, true);
      expect(records).toHaveLength(WATCHERS);

      // Ground truth.
      const endRev = Math.max(maxSeenRev, ...writes.map((w) => w.rev), ...revokes.map((r) => r.respRev));
      const samples = new Set<number>([baseRev, endRev]);
      while (samples.size < RANGE_SAMPLES) samples.add(baseRev + rng.int(endRev - baseRev + 1));
      const model = new Model(writes, revokes, baseRev + 1, endRev, samples);
      for (const rev of [...samples].sort((a, b) => a - b)) {
        const res = await unary(kvs[rev % 3] as grpc.Client, "Range", { key: Buffer.from([0]), range_end: Buffer.from([0]), revision: String(rev) });
        const got = (res.kvs as Msg[]).map((m) => kvText(fromProtoKv(m)) + ` ${(m.key as Buffer).toString("latin1")}`);
        const want = [...(model.snapshots.get(rev) as Map<string, Kv>).values()].sort((a, b) => (a.key < b.key ? -1 : 1)).map((kv) => `${kvText(kv)} ${kv.key}`);
        expect(got, `Range of everything at revision ${rev} against the model`).toEqual(want);
      }

      // Every created response first: a live watcher (start 0) starts at its created header revision + 1.
      const tDeliver = Date.now();
      const deadline = tDeliver + DELIVERY_TIMEOUT_MS;
      const streamsOk = (): boolean => streams.every((s) => s.error === undefined);
      while (Date.now() < deadline && streamsOk() && records.some((rec) => rec.createdRev === undefined)) await sleep(50);
      // What each watcher must get, from the model's events.
      const expected = records.map((rec) => {
        const { spec } = rec;
        const start = spec.startRevision !== 0 ? spec.startRevision : (rec.createdRev ?? Number.NaN) + 1;
        return model.events
          .filter((e) => e.rev >= start && matches(spec, e.kv.key) && !(e.type === "PUT" ? spec.noPut : spec.noDelete))
          .map((e) => modelEventText(e, spec.prevKv));
      });
      const behind = (): boolean => records.some((rec, i) => rec.got.length < (expected[i] as string[]).length);
      while (Date.now() < deadline && streamsOk() && behind()) await sleep(50);
      const deliverMs = Date.now() - tDeliver;
      await sleep(QUIET_MS);

      // The verdict.
      const problems: string[] = [];
      for (const [i, s] of streams.entries()) {
        if (s.error !== undefined) problems.push(`stream ${i} (${s.url}) failed: ${s.error.message}`);
        if (s.stray.length > 0) problems.push(`stream ${i}: responses for unknown watch IDs: ${s.stray.join(" ")}`);
      }
      let checked = 0;
      for (const [i, rec] of records.entries()) {
        const want = expected[i] as string[];
        checked += want.length;
        const where = `watcher ${i} (stream ${rec.spec.stream} id ${rec.id}: ${specText(rec.spec)}; created at ${String(rec.createdRev)})`;
        if (rec.createdRev === undefined) problems.push(`${where}: no created response`);
        for (const a of rec.anomalies) problems.push(`${where}: ${a}`);
        const diff = diffEvents(want, rec.got);
        if (diff !== undefined) problems.push(`${where}:\n    ${diff}`);
      }
      const elapsedMs = Date.now() - t0;
      const summary =
        `[watch-stress] ${impl}: ${records.length} watchers on ${streams.length} streams, ${writes.length} writes ` +
        `(+${revokes.length} lease revokes, ${leaseNotFound} puts lost to a revoke) → revisions ${baseRev + 1}..${endRev}, ` +
        `${model.events.length} events, ${checked} watcher events checked (${records.reduce((n, r) => n + r.batches, 0)} responses carried several revisions), ${problems.length} problems; ` +
        `writes ${(writesMs / 1000).toFixed(1)} s, delivery ${(deliverMs / 1000).toFixed(1)} s after the last write, total ${(elapsedMs / 1000).toFixed(1)} s (seed ${SEED})`;
      console.log(summary);
      expect(problems.length, `${summary}\n${problems.slice(0, 20).join("\n")}${problems.length > 20 ? `\n…and ${problems.length - 20} more` : ""}`).toBe(0);
      expect(writes.length + leaseNotFound).toBe(WRITES);
    } finally {
      for (const s of streams) s.close();
      for (const c of [...kvs, ...leaseClients]) c.close();
    }
  }, 600_000); // ketch's writes are ~3x slower than etcd's (issue 9): minutes on a loaded machine
});
