// Proves proto/etcd against a real etcd 3.4: a grpc-js client built only from our
// .proto files talks to /usr/bin/etcd, and the decoded responses must be right.
// Also checks the loader finds the protos from src/ and from the compiled dist/src/ layout.

import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";

import * as grpc from "@grpc/grpc-js";
import ts from "typescript";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

import {
  etcdProtoDir,
  etcdServiceClients,
  etcdServiceDefinitions,
  etcdServiceNames,
  type EtcdServiceName,
} from "../../src/api/etcd-proto.js";
import { startRealEtcd, type RealEtcd } from "./real-etcd.js";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

// ---- Decoded shapes (proto-loader: keepCase, longs String, enums String, bytes Buffer, defaults, oneofs).

interface ResponseHeader {
  cluster_id: string;
  member_id: string;
  revision: string;
  raft_term: string;
}
interface KeyValue {
  key: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
  value: Buffer;
  lease: string;
}
interface RangeResponse {
  header: ResponseHeader;
  kvs: KeyValue[];
  more: boolean;
  count: string;
}
interface PutResponse {
  header: ResponseHeader;
  prev_kv: KeyValue | null;
}
interface DeleteRangeResponse {
  header: ResponseHeader;
  deleted: string;
  prev_kvs: KeyValue[];
}
interface ResponseOp {
  response: "response_range" | "response_put" | "response_delete_range" | "response_txn";
  response_range?: RangeResponse;
  response_put?: PutResponse;
  response_delete_range?: DeleteRangeResponse;
  response_txn?: TxnResponse;
}
interface TxnResponse {
  header: ResponseHeader;
  succeeded: boolean;
  responses: ResponseOp[];
}
interface HeaderOnlyResponse {
  header: ResponseHeader;
}
interface HashKVResponse {
  header: ResponseHeader;
  hash: number;
  compact_revision: string;
}
interface LeaseGrantResponse {
  header: ResponseHeader;
  ID: string;
  TTL: string;
  error: string;
}
interface LeaseTimeToLiveResponse {
  header: ResponseHeader;
  ID: string;
  TTL: string;
  grantedTTL: string;
  keys: Buffer[];
}
interface LeaseLeasesResponse {
  header: ResponseHeader;
  leases: { ID: string }[];
}
interface LeaseKeepAliveResponse {
  header: ResponseHeader;
  ID: string;
  TTL: string;
}
interface WatchEvent {
  type: "PUT" | "DELETE";
  kv: KeyValue | null;
  prev_kv: KeyValue | null;
}
interface WatchResponse {
  header: ResponseHeader;
  watch_id: string;
  created: boolean;
  canceled: boolean;
  compact_revision: string;
  cancel_reason: string;
  fragment: boolean;
  events: WatchEvent[];
}
interface Member {
  ID: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}
interface MemberListResponse {
  header: ResponseHeader;
  members: Member[];
}
interface StatusResponse {
  header: ResponseHeader;
  version: string;
  dbSize: string;
  leader: string;
  raftIndex: string;
  raftTerm: string;
  raftAppliedIndex: string;
  errors: string[];
  dbSizeInUse: string;
  isLearner: boolean;
}
interface AlarmResponse {
  header: ResponseHeader | null;
  alarms: { memberID: string; alarm: string }[];
}

// ---- Thin typed calls over grpc-js, driven by our service definitions.

type Clients = Record<EtcdServiceName, grpc.Client>;

const definitions = etcdServiceDefinitions();
const callDeadlineMs = 5000;

function method(service: EtcdServiceName, name: string): grpc.MethodDefinition<object, object> {
  const definition = definitions[service][name];
  if (definition === undefined) throw new Error(`no method ${service}.${name} in our protos`);
  return definition;
}

function unary<Res>(clients: Clients, service: EtcdServiceName, name: string, request: object): Promise<Res> {
  const m = method(service, name);
  expect(m.requestStream || m.responseStream).toBe(false);
  return new Promise((resolve, reject) => {
    clients[service].makeUnaryRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + callDeadlineMs },
      (err, response) => (err ? reject(err) : resolve(response as Res)),
    );
  });
}

function bidi<Req extends object, Res>(
  clients: Clients,
  service: EtcdServiceName,
  name: string,
): grpc.ClientDuplexStream<Req, Res> {
  const m = method(service, name);
  expect(m.requestStream && m.responseStream).toBe(true);
  return clients[service].makeBidiStreamRequest(
    m.path,
    m.requestSerialize,
    m.responseDeserialize as (bytes: Buffer) => Res,
    new grpc.Metadata(),
    { deadline: Date.now() + 3 * callDeadlineMs },
  );
}

/** Resolves with the first message matching `accept`, collecting everything seen on the way. */
function nextMatching<Req, Res>(
  stream: grpc.ClientDuplexStream<Req, Res>,
  accept: (message: Res) => boolean,
  seen: Res[] = [],
  timeoutMs = callDeadlineMs,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
      stream.off("data", onData);
      stream.off("error", onError);
    };
    const onData = (message: Res): void => {
      seen.push(message);
      if (accept(message)) {
        cleanup();
        resolve(message);
      }
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no matching stream message within ${timeoutMs} ms; saw ${JSON.stringify(seen)}`));
    }, timeoutMs);
    stream.on("data", onData);
    stream.on("error", onError);
  });
}

/** Runs `call`, which must fail with exactly this gRPC code and status message. */
async function expectGrpcError(call: Promise<unknown>, code: grpc.status, details: string): Promise<void> {
  const err: unknown = await call.then(
    () => new Error(`expected gRPC ${grpc.status[code]} "${details}", but the call succeeded`),
    (e: unknown) => e,
  );
  expect(err).toMatchObject({ code, details });
}

const b = (utf8: string): Buffer => Buffer.from(utf8, "utf8");
const text = (bytes: Buffer | undefined): string | undefined => bytes?.toString("utf8");

// ---- The real server.

describe("etcd 3.4 wire compatibility of proto/etcd", () => {
  let etcd: RealEtcd | undefined;
  let clients: Clients;

  async function currentRevision(): Promise<number> {
    const response = await unary<RangeResponse>(clients, "KV", "Range", { key: b("\0"), count_only: true });
    return Number(response.header.revision);
  }

  async function startAndWaitForLeader(): Promise<void> {
    etcd = await startRealEtcd();
    const constructors = etcdServiceClients();
    const made: Partial<Clients> = {};
    for (const name of etcdServiceNames) {
      made[name] = new constructors[name](etcd.clientAddress, grpc.credentials.createInsecure());
    }
    clients = made as Clients;

    // Ready once Status names a leader; etcd exiting early fails fast with its log.
    const readyDeadline = Date.now() + 20_000;
    for (;;) {
      if (etcd.process.exitCode !== null) {
        throw new Error(`etcd exited with code ${etcd.process.exitCode}:\n${etcd.logTail()}`);
      }
      try {
        const status = await unary<StatusResponse>(clients, "Maintenance", "Status", {});
        if (status.leader !== "0") return;
      } catch {
        // not listening yet
      }
      if (Date.now() > readyDeadline) throw new Error(`etcd did not become ready:\n${etcd.logTail()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  // A startup failure (e.g. no /usr/bin/etcd) must fail every test, not skip them.
  let startupError: unknown;
  beforeAll(async () => {
    startupError = await startAndWaitForLeader().then(
      () => undefined,
      (err: unknown) => err ?? new Error("etcd startup failed"),
    );
  }, 30_000);
  beforeEach(() => {
    if (startupError !== undefined) throw startupError;
  });

  afterAll(async () => {
    for (const client of Object.values<grpc.Client>(clients ?? {})) client.close();
    await etcd?.stop();
  }, 15_000);

  it("KV.Put and KV.Range: revisions, prev_kv, prefix, limit, count, sort", async () => {
    // A fresh etcd store starts at revision 1, so the first write is revision 2.
    expect(await currentRevision()).toBe(1);

    const put1 = await unary<PutResponse>(clients, "KV", "Put", { key: b("foo/a"), value: b("1") });
    expect(put1.header.revision).toBe("2");
    expect(put1.prev_kv).toBeNull();
    expect(put1.header.cluster_id).not.toBe("0");
    expect(put1.header.member_id).not.toBe("0");

    const put2 = await unary<PutResponse>(clients, "KV", "Put", { key: b("foo/a"), value: b("2"), prev_kv: true });
    expect(put2.header.revision).toBe("3");
    expect(put2.prev_kv).toMatchObject({ create_revision: "2", mod_revision: "2", version: "1", lease: "0" });
    expect(text(put2.prev_kv?.key)).toBe("foo/a");
    expect(text(put2.prev_kv?.value)).toBe("1");

    const put3 = await unary<PutResponse>(clients, "KV", "Put", { key: b("foo/b"), value: b("b") });
    const put4 = await unary<PutResponse>(clients, "KV", "Put", { key: b("foo/c"), value: b("c") });
    expect([put3.header.revision, put4.header.revision]).toEqual(["4", "5"]);

    // Single key: every KeyValue field decodes.
    const one = await unary<RangeResponse>(clients, "KV", "Range", { key: b("foo/a") });
    expect(one.header.revision).toBe("5");
    expect(one.count).toBe("1");
    expect(one.more).toBe(false);
    expect(one.kvs).toHaveLength(1);
    expect(one.kvs[0]).toMatchObject({ create_revision: "2", mod_revision: "3", version: "2", lease: "0" });
    expect(Buffer.isBuffer(one.kvs[0]?.key)).toBe(true);
    expect(text(one.kvs[0]?.value)).toBe("2");

    // Prefix "foo/" is [foo/, foo0); limit 2, descending by key: more is set and count ignores limit.
    const page = await unary<RangeResponse>(clients, "KV", "Range", {
      key: b("foo/"),
      range_end: b("foo0"),
      limit: 2,
      sort_order: "DESCEND",
      sort_target: "KEY",
    });
    expect(page.kvs.map((kv) => text(kv.key))).toEqual(["foo/c", "foo/b"]);
    expect(page.more).toBe(true);
    expect(page.count).toBe("3");

    // Sort by version: foo/a (version 2) comes first in descending order.
    const byVersion = await unary<RangeResponse>(clients, "KV", "Range", {
      key: b("foo/"),
      range_end: b("foo0"),
      sort_order: "DESCEND",
      sort_target: "VERSION",
    });
    expect(text(byVersion.kvs[0]?.key)).toBe("foo/a");

    const counted = await unary<RangeResponse>(clients, "KV", "Range", {
      key: b("foo/"),
      range_end: b("foo0"),
      count_only: true,
    });
    expect(counted.count).toBe("3");
    expect(counted.kvs).toEqual([]);

    const keysOnly = await unary<RangeResponse>(clients, "KV", "Range", {
      key: b("foo/"),
      range_end: b("foo0"),
      keys_only: true,
    });
    expect(keysOnly.kvs.map((kv) => [text(kv.key), kv.value.length])).toEqual([
      ["foo/a", 0],
      ["foo/b", 0],
      ["foo/c", 0],
    ]);
  });

  it("KV.Txn: compares on mod_revision and value, both branches, nested request_txn", async () => {
    const rev = await currentRevision();
    const a = await unary<RangeResponse>(clients, "KV", "Range", { key: b("foo/a") });
    const modA = a.kvs[0]?.mod_revision;
    expect(modA).toBeDefined();

    const success = await unary<TxnResponse>(clients, "KV", "Txn", {
      compare: [
        { result: "EQUAL", target: "MOD", key: b("foo/a"), mod_revision: modA },
        { result: "EQUAL", target: "VALUE", key: b("foo/b"), value: b("b") },
      ],
      success: [
        { request_put: { key: b("foo/a"), value: b("3"), prev_kv: true } },
        {
          request_txn: {
            compare: [{ result: "EQUAL", target: "VERSION", key: b("foo/c"), version: 1 }],
            success: [{ request_range: { key: b("foo/c") } }],
            failure: [],
          },
        },
      ],
      failure: [{ request_range: { key: b("foo/a") } }],
    });
    expect(success.succeeded).toBe(true);
    // The whole transaction is one revision.
    expect(Number(success.header.revision)).toBe(rev + 1);
    expect(success.responses.map((r) => r.response)).toEqual(["response_put", "response_txn"]);
    expect(text(success.responses[0]?.response_put?.prev_kv?.value)).toBe("2");
    const nested = success.responses[1]?.response_txn;
    expect(nested?.succeeded).toBe(true);
    expect(nested?.responses[0]?.response).toBe("response_range");
    expect(text(nested?.responses[0]?.response_range?.kvs[0]?.value)).toBe("c");

    // Same compare again: foo/a's mod_revision moved, so the failure branch runs and nothing is written.
    const failure = await unary<TxnResponse>(clients, "KV", "Txn", {
      compare: [{ result: "EQUAL", target: "MOD", key: b("foo/a"), mod_revision: modA }],
      success: [{ request_put: { key: b("foo/a"), value: b("never") } }],
      failure: [{ request_range: { key: b("foo/a") } }],
    });
    expect(failure.succeeded).toBe(false);
    expect(Number(failure.header.revision)).toBe(rev + 1);
    expect(failure.responses).toHaveLength(1);
    const seen = failure.responses[0]?.response_range?.kvs[0];
    expect(text(seen?.value)).toBe("3");
    expect(seen?.mod_revision).toBe(String(rev + 1));

    // The other CompareResult values and the LEASE / CREATE targets also encode correctly.
    const notEqual = await unary<TxnResponse>(clients, "KV", "Txn", {
      compare: [
        { result: "NOT_EQUAL", target: "VALUE", key: b("foo/a"), value: b("2") },
        { result: "EQUAL", target: "LEASE", key: b("foo/a"), lease: 0 },
        { result: "GREATER", target: "CREATE", key: b("foo/b"), create_revision: 1 },
      ],
      success: [],
      failure: [],
    });
    expect(notEqual.succeeded).toBe(true);
  });

  it("KV.DeleteRange, KV.Compact, and reads at compacted and future revisions", async () => {
    const rev = await currentRevision();
    const deleted = await unary<DeleteRangeResponse>(clients, "KV", "DeleteRange", {
      key: b("foo/c"),
      prev_kv: true,
    });
    expect(Number(deleted.header.revision)).toBe(rev + 1);
    expect(deleted.deleted).toBe("1");
    expect(deleted.prev_kvs.map((kv) => [text(kv.key), text(kv.value)])).toEqual([["foo/c", "c"]]);

    const nothing = await unary<DeleteRangeResponse>(clients, "KV", "DeleteRange", { key: b("foo/none") });
    expect(nothing.deleted).toBe("0");
    expect(Number(nothing.header.revision)).toBe(rev + 1);

    const compactRevision = rev;
    const compacted = await unary<HeaderOnlyResponse>(clients, "KV", "Compact", {
      revision: compactRevision,
      physical: true,
    });
    expect(Number(compacted.header.revision)).toBe(rev + 1);

    await expectGrpcError(
      unary<RangeResponse>(clients, "KV", "Range", { key: b("foo/a"), revision: 2 }),
      grpc.status.OUT_OF_RANGE,
      "etcdserver: mvcc: required revision has been compacted",
    );
    // The compaction revision itself is still readable.
    const atCompact = await unary<RangeResponse>(clients, "KV", "Range", {
      key: b("foo/c"),
      revision: compactRevision,
    });
    expect(text(atCompact.kvs[0]?.value)).toBe("c");
    await expectGrpcError(
      unary<RangeResponse>(clients, "KV", "Range", { key: b("foo/a"), revision: rev + 100 }),
      grpc.status.OUT_OF_RANGE,
      "etcdserver: mvcc: required revision is a future revision",
    );

    const hash = await unary<HashKVResponse>(clients, "Maintenance", "HashKV", { revision: 0 });
    expect(hash.compact_revision).toBe(String(compactRevision));
    expect(Number.isInteger(hash.hash)).toBe(true);
    expect(hash.hash).toBeGreaterThan(0);
    expect(Number(hash.header.revision)).toBe(rev + 1);
  });

  it("KV.Put with an empty key is INVALID_ARGUMENT", async () => {
    await expectGrpcError(
      unary<PutResponse>(clients, "KV", "Put", { key: Buffer.alloc(0), value: b("x") }),
      grpc.status.INVALID_ARGUMENT,
      "etcdserver: key is not provided",
    );
  });

  it("Lease: grant, attach, time-to-live with keys, list, keep-alive, revoke", async () => {
    const grant = await unary<LeaseGrantResponse>(clients, "Lease", "LeaseGrant", { TTL: 60 });
    expect(grant.ID).toMatch(/^[1-9][0-9]*$/);
    expect(grant.TTL).toBe("60");
    expect(grant.error).toBe("");

    const put = await unary<PutResponse>(clients, "KV", "Put", { key: b("lease/k"), value: b("v"), lease: grant.ID });
    const attached = await unary<RangeResponse>(clients, "KV", "Range", { key: b("lease/k") });
    expect(attached.kvs[0]?.lease).toBe(grant.ID);

    const ttl = await unary<LeaseTimeToLiveResponse>(clients, "Lease", "LeaseTimeToLive", { ID: grant.ID, keys: true });
    expect(ttl.ID).toBe(grant.ID);
    expect(ttl.grantedTTL).toBe("60");
    expect(Number(ttl.TTL)).toBeGreaterThan(0);
    expect(Number(ttl.TTL)).toBeLessThanOrEqual(60);
    expect(ttl.keys.map((key) => text(key))).toEqual(["lease/k"]);

    const leases = await unary<LeaseLeasesResponse>(clients, "Lease", "LeaseLeases", {});
    expect(leases.leases.map((lease) => lease.ID)).toContain(grant.ID);

    const keepAlive = bidi<{ ID: string }, LeaseKeepAliveResponse>(clients, "Lease", "LeaseKeepAlive");
    const ended = new Promise<void>((resolve) => {
      keepAlive.on("status", () => resolve());
      keepAlive.on("error", () => resolve());
    });
    const reply = nextMatching(keepAlive, (message) => message.ID === grant.ID);
    keepAlive.write({ ID: grant.ID });
    const renewed = await reply;
    expect(renewed.TTL).toBe("60");
    expect(renewed.header.revision).toBe(put.header.revision);
    keepAlive.end(); // etcd ends the RPC when the client half-closes
    await ended;

    const revoke = await unary<HeaderOnlyResponse>(clients, "Lease", "LeaseRevoke", { ID: grant.ID });
    // Revoking deletes the attached key, which is a write.
    expect(Number(revoke.header.revision)).toBe(Number(put.header.revision) + 1);
    const gone = await unary<LeaseTimeToLiveResponse>(clients, "Lease", "LeaseTimeToLive", { ID: grant.ID });
    expect(gone.TTL).toBe("-1");
    const afterRevoke = await unary<RangeResponse>(clients, "KV", "Range", { key: b("lease/k") });
    expect(afterRevoke.count).toBe("0");
    await expectGrpcError(
      unary<HeaderOnlyResponse>(clients, "Lease", "LeaseRevoke", { ID: grant.ID }),
      grpc.status.NOT_FOUND,
      "etcdserver: requested lease not found",
    );
  });

  it("Watch: create on a prefix, put events with prev_kv, delete event, cancel", async () => {
    const stream = bidi<object, WatchResponse>(clients, "Watch", "Watch");
    stream.on("error", () => {}); // the final cancel() surfaces as CANCELLED
    const seen: WatchResponse[] = [];
    try {
      const created = nextMatching(stream, (r) => r.created, seen);
      stream.write({ create_request: { key: b("w/"), range_end: b("w0"), prev_kv: true } });
      const createdResponse = await created;
      const watchId = createdResponse.watch_id;
      expect(watchId).toBe("0"); // the first server-assigned ID on a stream

      const rev = await currentRevision();
      const events: WatchEvent[] = [];
      const collect = (r: WatchResponse): boolean => {
        if (r.watch_id === watchId) events.push(...r.events);
        return events.length >= 3;
      };
      const threeEvents = nextMatching(stream, collect, seen);
      await unary<PutResponse>(clients, "KV", "Put", { key: b("w/x"), value: b("1") });
      await unary<PutResponse>(clients, "KV", "Put", { key: b("w/x"), value: b("2") });
      await unary<PutResponse>(clients, "KV", "Put", { key: b("other"), value: b("ignored") });
      await unary<DeleteRangeResponse>(clients, "KV", "DeleteRange", { key: b("w/x") });
      await threeEvents;

      expect(events.map((e) => e.type)).toEqual(["PUT", "PUT", "DELETE"]);
      expect(events[0]?.kv).toMatchObject({ version: "1", create_revision: String(rev + 1) });
      expect(events[0]?.prev_kv).toBeNull();
      expect(text(events[1]?.kv?.value)).toBe("2");
      expect(events[1]?.kv?.mod_revision).toBe(String(rev + 2));
      expect(text(events[1]?.prev_kv?.value)).toBe("1");
      expect(events[1]?.prev_kv?.mod_revision).toBe(String(rev + 1));
      // A delete event carries the key with mod_revision = the deleting revision.
      expect(text(events[2]?.kv?.key)).toBe("w/x");
      expect(events[2]?.kv?.mod_revision).toBe(String(rev + 4));
      expect(text(events[2]?.prev_kv?.value)).toBe("2");

      const canceled = nextMatching(stream, (r) => r.canceled, seen);
      stream.write({ cancel_request: { watch_id: watchId } });
      const cancelResponse = await canceled;
      expect(cancelResponse.watch_id).toBe(watchId);
    } finally {
      // etcd 3.4 keeps a watch stream open after the client half-closes, so cancel the call.
      stream.cancel();
    }
  });

  it("Cluster.MemberList, Maintenance.Status and Maintenance.Alarm", async () => {
    const list = await unary<MemberListResponse>(clients, "Cluster", "MemberList", {});
    expect(list.members).toHaveLength(1);
    const [member] = list.members;
    expect(member).toMatchObject({
      name: etcd!.name,
      peerURLs: [etcd!.peerUrl],
      clientURLs: [etcd!.clientUrl],
      isLearner: false,
    });
    // uint64 IDs decode as decimal strings; the header names the answering member.
    expect(member?.ID).toMatch(/^[1-9][0-9]*$/);
    expect(list.header.member_id).toBe(member?.ID);

    const status = await unary<StatusResponse>(clients, "Maintenance", "Status", {});
    expect(status.version).toMatch(/^3\.4\.\d+$/);
    expect(status.leader).toBe(member?.ID);
    expect(status.header.member_id).toBe(member?.ID);
    expect(status.header.cluster_id).toBe(list.header.cluster_id);
    expect(Number(status.dbSize)).toBeGreaterThan(0);
    expect(Number(status.dbSizeInUse)).toBeGreaterThan(0);
    expect(Number(status.raftTerm)).toBeGreaterThanOrEqual(1);
    expect(Number(status.raftIndex)).toBeGreaterThan(0);
    expect(Number(status.raftAppliedIndex)).toBeGreaterThan(0);
    expect(status.errors).toEqual([]);
    expect(status.isLearner).toBe(false);

    const alarms = await unary<AlarmResponse>(clients, "Maintenance", "Alarm", {
      action: "GET",
      memberID: 0,
      alarm: "NONE",
    });
    expect(alarms.alarms).toEqual([]);
    // etcd 3.4 answers Alarm without a ResponseHeader: its maintenance server returns the
    // applier's reply unfilled (3.5 adds an empty header and fills it).
    expect(alarms.header).toBeNull();
  });
});

// ---- Loader paths.

describe("etcd-proto loader", () => {
  it("finds proto/etcd from src/api and exposes all six services", () => {
    expect(etcdProtoDir()).toBe(join(repoRoot, "proto", "etcd"));
    const defs = etcdServiceDefinitions();
    expect(Object.keys(defs).sort()).toEqual([...etcdServiceNames].sort());
    expect(defs.KV.Range?.path).toBe("/etcdserverpb.KV/Range");
    expect(defs.Watch.Watch?.requestStream).toBe(true);
    expect(defs.Maintenance.Snapshot?.responseStream).toBe(true);
    expect(defs.Maintenance.Snapshot?.requestStream).toBe(false);
    expect(Object.keys(defs.Maintenance)).not.toContain("Downgrade");
  });

  it("fails with the paths it tried when the protos are absent", () => {
    const stray = pathToFileURL(join(tmpdir(), "nowhere", "a", "b", "etcd-proto.js")).href;
    expect(() => etcdProtoDir(stray)).toThrow(/etcd proto files not found: looked for .*rpc\.proto/);
  });

  it("finds proto/etcd from the compiled dist/src/api layout", async () => {
    // Mirror the repo layout in a temp dir: <tmp>/dist/src/api/etcd-proto.js next to
    // <tmp>/proto and <tmp>/node_modules (symlinks), so ../../../proto must be used.
    const root = await mkdtemp(join(tmpdir(), "ketch-dist-"));
    try {
      const source = await readFile(join(repoRoot, "src", "api", "etcd-proto.ts"), "utf8");
      const compiled = ts.transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
        fileName: "etcd-proto.ts",
      });
      const apiDir = join(root, "dist", "src", "api");
      await mkdir(apiDir, { recursive: true });
      await writeFile(join(apiDir, "etcd-proto.js"), compiled.outputText);
      await writeFile(join(root, "package.json"), JSON.stringify({ type: "module" }));
      await symlink(join(repoRoot, "proto"), join(root, "proto"));
      await symlink(join(repoRoot, "node_modules"), join(root, "node_modules"));

      const script = [
        `import { etcdProtoDir, etcdServiceDefinitions } from ${JSON.stringify(pathToFileURL(join(apiDir, "etcd-proto.js")).href)};`,
        "const defs = etcdServiceDefinitions();",
        "console.log(JSON.stringify({ dir: etcdProtoDir(), services: Object.keys(defs), range: defs.KV.Range.path }));",
      ].join("\n");
      const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
        cwd: root,
        timeout: 15_000,
      });
      expect(JSON.parse(stdout)).toEqual({
        dir: join(root, "proto", "etcd"),
        services: [...etcdServiceNames],
        range: "/etcdserverpb.KV/Range",
      });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }, 20_000);
});
