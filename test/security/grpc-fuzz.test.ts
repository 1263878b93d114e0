// Hostile input on the client port: malformed protobuf, huge and lying gRPC length prefixes,
// truncated frames, compressed flags without compression, invalid UTF-8 in string fields, and raw
// HTTP/2 garbage. A running member must answer or refuse each of them and keep serving; it must
// never crash. Seeded (KETCH_FUZZ_SEED), so a failure replays.
import { connect as h2connect, constants as h2 } from "node:http2";
import { connect as netConnect } from "node:net";
import { afterAll, describe, expect, it } from "vitest";

import { SeededRandom } from "../../src/util/prng.js";
import { useCluster } from "../integration/cluster-fixture.js";
import { destroyAllClusters, runEtcdctl } from "../integration/cluster.js";

afterAll(async () => {
  await destroyAllClusters();
}, 60_000);

const SEED = Number(process.env.KETCH_FUZZ_SEED ?? 20261205);
const REQUESTS = Number(process.env.KETCH_FUZZ_REQUESTS ?? 1500);
const CONCURRENCY = 8;

/** Every method but those that change membership or leadership (the member must stay one cluster). */
const METHODS = [
  "KV/Range", "KV/Put", "KV/DeleteRange", "KV/Txn", "KV/Compact",
  "Watch/Watch",
  "Lease/LeaseGrant", "Lease/LeaseRevoke", "Lease/LeaseKeepAlive", "Lease/LeaseTimeToLive", "Lease/LeaseLeases",
  "Cluster/MemberList",
  "Maintenance/Status", "Maintenance/Hash", "Maintenance/HashKV", "Maintenance/Snapshot", "Maintenance/Defragment",
  "Auth/Authenticate", "Auth/UserAdd", "Auth/UserGet", "Auth/UserList", "Auth/UserDelete", "Auth/UserChangePassword",
  "Auth/UserGrantRole", "Auth/UserRevokeRole", "Auth/RoleAdd", "Auth/RoleGet", "Auth/RoleList", "Auth/RoleDelete",
  "Auth/RoleGrantPermission", "Auth/RoleRevokePermission", "Auth/AuthDisable",
  "NoSuch/Method",
].map((m) => `/etcdserverpb.${m}`);

function randomBytes(rnd: SeededRandom, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rnd.int(256);
  return b;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** Protobuf-shaped bytes: plausible tags and wire types, with lying lengths, deep nesting, bad UTF-8. */
function protobufish(rnd: SeededRandom, depth = 0): Buffer {
  const parts: Buffer[] = [];
  const fields = rnd.int(6);
  for (let i = 0; i < fields; i++) {
    const field = 1 + rnd.int(12);
    const wire = [0, 1, 2, 2, 2, 5, 3, 7][rnd.int(8)] as number;
    parts.push(varint(field * 8 + wire));
    switch (wire) {
      case 0:
        parts.push(rnd.int(4) === 0 ? Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]) : varint(rnd.int(1 << 30)));
        break;
      case 1:
        parts.push(randomBytes(rnd, 8));
        break;
      case 5:
        parts.push(randomBytes(rnd, 4));
        break;
      case 2: {
        const body =
          depth < 4 && rnd.int(2) === 0
            ? protobufish(rnd, depth + 1)
            : rnd.int(3) === 0
              ? Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x90, 0x28, 0xbc]) // invalid UTF-8
              : randomBytes(rnd, rnd.int(40));
        // Sometimes the length lies (longer than what follows, or absurd).
        const len = rnd.int(5) === 0 ? body.length + 1 + rnd.int(1 << 20) : body.length;
        parts.push(varint(len), body);
        break;
      }
      default:
        break; // groups: tag alone
    }
  }
  return Buffer.concat(parts);
}

/** One gRPC request body: the 5-byte frame header (compressed flag, length) and a message, maybe lying. */
function grpcBody(rnd: SeededRandom): Buffer {
  const message = rnd.int(3) === 0 ? randomBytes(rnd, rnd.int(200)) : protobufish(rnd);
  const header = Buffer.alloc(5);
  header[0] = rnd.int(8) === 0 ? 1 : 0; // compressed without a grpc-encoding
  const kind = rnd.int(10);
  if (kind === 0) header.writeUInt32BE(0xffffffff, 1); // 4 GiB
  else if (kind === 1) header.writeUInt32BE(64 * 1024 * 1024, 1); // over the request limit
  else if (kind === 2) header.writeUInt32BE(message.length + 1 + rnd.int(1000), 1); // truncated frame
  else header.writeUInt32BE(message.length, 1);
  const frames = [header, message];
  if (rnd.int(6) === 0) frames.push(header.subarray(0, 1 + rnd.int(4))); // a cut-off second frame header
  return Buffer.concat(frames);
}

/** Sends one request and waits for its end (any status, reset, or 3 s). */
function send(
  session: ReturnType<typeof h2connect>,
  path: string,
  body: Buffer,
  token: string | undefined,
  outcomes: Map<string, number>,
): Promise<void> {
  const count = (what: string): void => {
    outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
  };
  return new Promise((resolve) => {
    let stream;
    try {
      stream = session.request({
        [h2.HTTP2_HEADER_METHOD]: "POST",
        [h2.HTTP2_HEADER_PATH]: path,
        "content-type": "application/grpc",
        te: "trailers",
        ...(token === undefined ? {} : { token }),
      });
    } catch {
      count("not sent");
      resolve();
      return;
    }
    let status: string | undefined;
    const statusOf = (headers: Record<string, unknown>): void => {
      const s = headers["grpc-status"];
      if (s !== undefined) status = String(s);
    };
    stream.on("response", statusOf);
    stream.on("trailers", statusOf);
    const timer = setTimeout(() => {
      count("no answer in 3 s");
      stream.close(h2.NGHTTP2_CANCEL);
    }, 3000);
    stream.on("data", () => undefined);
    stream.on("error", () => undefined);
    stream.on("close", () => {
      clearTimeout(timer);
      count(status === undefined ? `reset ${stream.rstCode}` : `grpc-status ${status}`);
      resolve();
    });
    stream.end(body);
  });
}

describe("hostile gRPC input against a running member", () => {
  const cluster = useCluster("ketch", 1, { namePrefix: "f" });

  it(`${REQUESTS} malformed requests and raw HTTP/2 garbage leave the member serving (seed ${SEED})`, async () => {
    const member = cluster().members[0];
    if (member === undefined) throw new Error("no member");
    const url = member.clientUrl;
    const rnd = new SeededRandom(SEED);
    let session = h2connect(url);
    session.on("error", () => undefined);
    let sent = 0;
    const outcomes = new Map<string, number>();
    const worker = async (): Promise<void> => {
      while (sent < REQUESTS) {
        sent++;
        if (session.destroyed || session.closed) {
          session = h2connect(url);
          session.on("error", () => undefined);
        }
        const path = METHODS[rnd.int(METHODS.length)] as string;
        const token = rnd.int(10) === 0 ? randomBytes(rnd, 12).toString("latin1").replace(/[^\x21-\x7e]/g, "x") + ".7" : undefined;
        await send(session, path, grpcBody(rnd), token, outcomes);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
    session.close();
    console.log(`[fuzz] seed ${SEED}: ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`);
    // The requests reached the handlers: most were answered with a gRPC status, not cut off.
    const answered = [...outcomes].filter(([k]) => k.startsWith("grpc-status")).reduce((n, [, v]) => n + v, 0);
    expect(answered).toBeGreaterThan(REQUESTS / 2);

    // Raw bytes on new connections: garbage after the HTTP/2 preface, and garbage instead of it.
    const { port } = new URL(url);
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        const socket = netConnect(Number(port), "127.0.0.1", () => {
          const preface = i % 2 === 0 ? Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") : Buffer.alloc(0);
          socket.end(Buffer.concat([preface, randomBytes(rnd, 1 + rnd.int(4000))]));
        });
        socket.on("data", () => undefined);
        socket.on("error", () => resolve());
        socket.on("close", () => resolve());
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 3000);
      });
    }

    expect(member.running, `member exited: ${member.logTail()}`).toBe(true);
    const put = await runEtcdctl([url], ["put", "after-fuzz", "ok"]);
    expect(put.stdout).toBe("OK\n");
    const get = await runEtcdctl([url], ["get", "after-fuzz", "--print-value-only"]);
    expect(get.stdout).toBe("ok\n");
    expect(member.logTail(1_000_000)).not.toMatch(/"level":60|unexpected error/);
  }, 180_000);
});
