// Watch proven against real etcd 3.4 and ketch side by side (KETCH_IMPLS, default both), on
// 3-member clusters started with the same flags: the real `etcdctl watch` (live prefix watches,
// --rev history, --prev-kv, -w json, interactive progress, compaction), a grpc-js client with our
// protos for what etcdctl cannot ask (client watch IDs, filters, compact_revision, progress, fragment,
// slow readers), a watcher that fails over when its member is kill -9'd, and the "no leader" cut.

import { spawn, type ChildProcess } from "node:child_process";

import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { etcdServiceClients } from "../../src/api/etcd-proto.js";
import {
  describeRun,
  destroyAllClusters,
  etcdctlBinary,
  eventually,
  int,
  parseImpls,
  parseJsonExact,
  sleep,
  startCluster,
  type Cluster,
  type Member,
} from "./cluster.js";

const IMPLS = parseImpls(process.env.KETCH_IMPLS ?? "etcd,ketch");
/** Both implementations start with it, so periodic progress notifications come within the test. */
const PROGRESS_INTERVAL = "1s";

type Msg = Record<string, unknown>;

// ---- etcdctl watch as a long-running process whose stdout is read while writes happen.

class EtcdctlProcess {
  private readonly child: ChildProcess;
  private out = "";
  private err = "";
  readonly exited: Promise<number>;

  constructor(endpoints: readonly string[], args: readonly string[]) {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith("ETCD_") && !key.startsWith("ETCDCTL_")) env[key] = value;
    }
    env.ETCDCTL_API = "3";
    this.child = spawn(etcdctlBinary, ["--endpoints", endpoints.join(","), ...args], { stdio: ["pipe", "pipe", "pipe"], env });
    this.child.stdout?.on("data", (chunk: Buffer) => (this.out += chunk.toString("utf8")));
    this.child.stderr?.on("data", (chunk: Buffer) => (this.err += chunk.toString("utf8")));
    this.child.stdin?.on("error", () => undefined);
    this.exited = new Promise((resolve) => this.child.once("close", (code) => resolve(code ?? -1)));
  }

  get stdout(): string {
    return this.out;
  }

  /** stderr without clientv3's JSON log lines. */
  get stderr(): string {
    return this.err
      .split("\n")
      .filter((line) => line !== "" && !line.startsWith("{"))
      .join("\n");
  }

  write(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  async waitOutput(what: string, pred: (stdout: string) => boolean, timeoutMs = 15_000): Promise<void> {
    await eventually(`etcdctl output: ${what}`, timeoutMs, async () => (pred(this.out) ? true : undefined), 50).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\nstdout so far:\n${this.out}\nstderr:\n${this.err.slice(-2000)}`);
    });
  }

  async waitExit(timeoutMs: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`etcdctl still running after ${timeoutMs} ms; stdout:\n${this.out}\nstderr:\n${this.err}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }
}

// ---- grpc-js clients with our protos.

const address = (url: string): string => url.replace(/^http:\/\//, "");

function unary(client: grpc.Client, method: string, request: Msg): Promise<Msg> {
  const fn = (client as unknown as Record<string, (req: Msg, done: (error: grpc.ServiceError | null, response: Msg) => void) => void>)[method];
  if (fn === undefined) throw new Error(`no ${method} on the client`);
  return new Promise((resolve, reject) => {
    fn.call(client, request, (error, response) => (error !== null ? reject(error) : resolve(response)));
  });
}

class KvClient {
  private readonly client: grpc.Client;

  constructor(url: string) {
    this.client = new (etcdServiceClients().KV)(address(url), grpc.credentials.createInsecure());
  }

  async put(key: string | Buffer, value: string | Buffer): Promise<number> {
    const res = await unary(this.client, "Put", { key: Buffer.from(key), value: Buffer.from(value) });
    return int((res.header as Msg).revision);
  }

  async del(key: string, rangeEnd = ""): Promise<number> {
    const res = await unary(this.client, "DeleteRange", { key: Buffer.from(key), range_end: Buffer.from(rangeEnd) });
    return int((res.header as Msg).revision);
  }

  async txnPuts(pairs: Array<[string, string]>): Promise<number> {
    const res = await unary(this.client, "Txn", {
      success: pairs.map(([key, value]) => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } })),
    });
    return int((res.header as Msg).revision);
  }

  async revision(): Promise<number> {
    const res = await unary(this.client, "Range", { key: Buffer.from("\0") });
    return int((res.header as Msg).revision);
  }

  async compact(revision: number): Promise<void> {
    await unary(this.client, "Compact", { revision: String(revision), physical: true });
  }

  close(): void {
    this.client.close();
  }
}

/** One Watch stream; every response is recorded in order. */
class WatchClient {
  private readonly client: grpc.Client;
  readonly call: grpc.ClientDuplexStream<Msg, Msg>;
  readonly responses: Msg[] = [];
  error: grpc.ServiceError | undefined;
  ended = false;

  constructor(url: string, opts: { requireLeader?: boolean } = {}) {
    this.client = new (etcdServiceClients().Watch)(address(url), grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
    });
    const md = new grpc.Metadata();
    if (opts.requireLeader === true) md.set("hasleader", "true");
    const method = (this.client as unknown as Record<string, (md: grpc.Metadata) => grpc.ClientDuplexStream<Msg, Msg>>)["Watch"];
    if (method === undefined) throw new Error("no Watch on the client");
    this.call = method.call(this.client, md);
    this.call.on("data", (res: Msg) => this.responses.push(res));
    this.call.on("error", (error: grpc.ServiceError) => (this.error = error));
    this.call.on("end", () => (this.ended = true));
  }

  create(req: Msg): void {
    this.call.write({ create_request: req });
  }

  cancel(watchId: number): void {
    this.call.write({ cancel_request: { watch_id: String(watchId) } });
  }

  progress(): void {
    this.call.write({ progress_request: {} });
  }

  /** Waits for the next response (after `from`) that matches; returns it and its index. */
  async next(what: string, pred: (res: Msg) => boolean, from = 0, timeoutMs = 15_000): Promise<{ res: Msg; index: number }> {
    return eventually(
      `watch response: ${what}`,
      timeoutMs,
      async () => {
        const index = this.responses.findIndex((res, i) => i >= from && pred(res));
        if (index >= 0) return { res: this.responses[index] as Msg, index };
        if (this.error !== undefined) throw new Error(`stream failed: ${this.error.message}`);
        return undefined;
      },
      20,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\nresponses so far: ${JSON.stringify(this.responses.map(brief))}`);
    });
  }

  /** Every event of `watchId` received so far, in order. */
  events(watchId: number): Msg[] {
    return this.responses.filter((res) => res.watch_id === String(watchId)).flatMap((res) => res.events as Msg[]);
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

function brief(res: Msg): Msg {
  const events = (res.events as Msg[] | undefined) ?? [];
  return {
    watch_id: res.watch_id,
    created: res.created,
    canceled: res.canceled,
    compact_revision: res.compact_revision,
    cancel_reason: res.cancel_reason,
    fragment: res.fragment,
    revision: (res.header as Msg | undefined)?.revision,
    events: events.map(eventText),
  };
}

/** "PUT key@create/mod/vN=value prev=..." with values cut to 20 bytes. */
function eventText(e: Msg): string {
  const kv = (k: unknown): string => {
    if (k === null || k === undefined) return "-";
    const m = k as Msg;
    const value = (m.value as Buffer).toString("latin1");
    return `${(m.key as Buffer).toString("latin1")}@${String(m.create_revision)}/${String(m.mod_revision)}/v${String(m.version)}=${value.length > 20 ? `${value.slice(0, 20)}…(${value.length})` : value}`;
  };
  return `${String(e.type)} ${kv(e.kv)} prev=${kv(e.prev_kv)}`;
}

// Backstop: a cluster whose beforeAll timed out mid-start is still killed and removed.
afterAll(destroyAllClusters, 60_000);

describe.each(IMPLS)("%s: Watch", (impl) => {
  let cluster: Cluster | undefined;
  let startupError: unknown;
  let kv: KvClient | undefined;
  const processes: EtcdctlProcess[] = [];
  const streams: WatchClient[] = [];

  beforeAll(async () => {
    try {
      cluster = await startCluster(impl, 3, { extraFlags: ["--experimental-watch-progress-notify-interval", PROGRESS_INTERVAL] });
      kv = new KvClient(cluster.endpoints[0] as string);
    } catch (error) {
      startupError = error ?? new Error(`${impl} cluster failed to start`);
    }
  }, 90_000);

  beforeEach(({ onTestFailed }) => {
    if (startupError !== undefined) throw startupError;
    onTestFailed(() => cluster?.markFailed());
  });

  afterAll(async () => {
    for (const p of processes) p.kill();
    for (const s of streams) s.close();
    kv?.close();
    await cluster?.destroy();
  }, 60_000);

  function c(): Cluster {
    if (cluster === undefined) throw new Error("cluster not started");
    return cluster;
  }

  function store(): KvClient {
    if (kv === undefined) throw new Error("cluster not started");
    return kv;
  }

  function etcdctlWatch(args: readonly string[], endpoints: readonly string[] = c().endpoints.slice(0, 1)): EtcdctlProcess {
    const p = new EtcdctlProcess(endpoints, args);
    processes.push(p);
    return p;
  }

  function watchStream(url = c().endpoints[0] as string, opts: { requireLeader?: boolean } = {}): WatchClient {
    const s = new WatchClient(url, opts);
    streams.push(s);
    return s;
  }

  async function ok(args: readonly string[]): Promise<string> {
    const result = await c().etcdctl(args);
    expect(result.code, describeRun(args, result)).toBe(0);
    return result.stdout;
  }

  // ---- etcdctl watch

  it("etcdctl watch --prefix prints puts and deletes as they happen", async () => {
    const watcher = etcdctlWatch(["watch", "--prefix", "/w/"]);
    // The watch is in place once a probe put shows up; then the real sequence runs.
    await eventually("etcdctl watch established", 15_000, async () => {
      await store().put("/w/probe", "p");
      return watcher.stdout.includes("/w/probe") ? true : undefined;
    }, 300);
    await store().del("/w/probe");
    await watcher.waitOutput("probe deleted", (out) => out.includes("DELETE\n/w/probe\n"));
    const mark = watcher.stdout.length;
    await ok(["put", "/w/a", "1"]);
    await ok(["put", "/w/b", "two words"]);
    await ok(["put", "/x/outside", "0"]);
    await ok(["put", "/w/a", "3"]);
    await ok(["del", "/w/a"]);
    await ok(["put", "/w/c", "4"]);
    await ok(["del", "--prefix", "/w/"]);
    const want = "PUT\n/w/a\n1\nPUT\n/w/b\ntwo words\nPUT\n/w/a\n3\nDELETE\n/w/a\n\nPUT\n/w/c\n4\nDELETE\n/w/b\n\nDELETE\n/w/c\n\n";
    await watcher.waitOutput("all events", (out) => out.length - mark >= want.length);
    await sleep(300);
    expect(watcher.stdout.slice(mark)).toBe(want);
    watcher.kill();
  });

  it("etcdctl watch --rev replays history, with --prev-kv, in text and json", async () => {
    const start = (await store().revision()) + 1;
    await ok(["put", "/h/k", "v1"]);
    await ok(["put", "/h/k", "v2"]);
    await ok(["del", "/h/k"]);
    await ok(["put", "/h/k", "v3"]);
    const text = etcdctlWatch(["watch", "--rev", String(start), "--prev-kv", "/h/k"]);
    const wantText = "PUT\n/h/k\nv1\nPUT\n/h/k\nv1\n/h/k\nv2\nDELETE\n/h/k\nv2\n/h/k\n\nPUT\n/h/k\nv3\n";
    await text.waitOutput("history", (out) => out.length >= wantText.length);
    // A later put arrives live on the same watch.
    await ok(["put", "/h/k", "v4"]);
    const wantAll = `${wantText}PUT\n/h/k\nv3\n/h/k\nv4\n`;
    await text.waitOutput("live event", (out) => out.length >= wantAll.length);
    await sleep(300);
    expect(text.stdout).toBe(wantAll);
    text.kill();

    const json = etcdctlWatch(["watch", "--rev", String(start), "--prev-kv", "/h/k", "-w", "json"]);
    await json.waitOutput("json history", (out) => out.includes(Buffer.from("v4").toString("base64")) && out.endsWith("\n"));
    await sleep(500);
    json.kill();
    // One JSON object per response; the replayed history comes as one response.
    const responses = json.stdout
      .trim()
      .split("\n")
      .map((line) => parseJsonExact(line) as { Header: Msg; Events: Msg[]; CompactRevision: string; Canceled: boolean; Created: boolean });
    const events = responses.flatMap((r) => r.Events);
    const b64 = (v: string): string => Buffer.from(v).toString("base64");
    const r = (n: number): string => String(start + n);
    expect(events).toEqual([
      { kv: { key: b64("/h/k"), create_revision: r(0), mod_revision: r(0), version: "1", value: b64("v1") } },
      {
        kv: { key: b64("/h/k"), create_revision: r(0), mod_revision: r(1), version: "2", value: b64("v2") },
        prev_kv: { key: b64("/h/k"), create_revision: r(0), mod_revision: r(0), version: "1", value: b64("v1") },
      },
      {
        type: "1",
        kv: { key: b64("/h/k"), mod_revision: r(2) },
        prev_kv: { key: b64("/h/k"), create_revision: r(0), mod_revision: r(1), version: "2", value: b64("v2") },
      },
      { kv: { key: b64("/h/k"), create_revision: r(3), mod_revision: r(3), version: "1", value: b64("v3") } },
      {
        kv: { key: b64("/h/k"), create_revision: r(3), mod_revision: r(4), version: "2", value: b64("v4") },
        prev_kv: { key: b64("/h/k"), create_revision: r(3), mod_revision: r(3), version: "1", value: b64("v3") },
      },
    ]);
    expect(responses.map((res) => res.Header.revision)).toEqual([String(start + 4)]);
  });

  it("etcdctl watch -i: progress prints the current revision", async () => {
    const p = etcdctlWatch(["watch", "-i"]);
    p.write("watch /i/k");
    await eventually("interactive watch established", 15_000, async () => {
      await store().put("/i/k", "x");
      return p.stdout.includes("/i/k") ? true : undefined;
    }, 300);
    await store().put("/i/other", "y");
    const rev = await store().revision();
    p.write("progress");
    await p.waitOutput("progress notify", (out) => /progress notify: \d+\n/.test(out));
    expect(/progress notify: (\d+)\n/.exec(p.stdout)?.[1]).toBe(String(rev));
    p.kill();
  });

  it("etcdctl watch --rev below the compacted revision is canceled with the compaction error", async () => {
    await store().put("/cmp/k", "1");
    const rev = await store().put("/cmp/k", "2");
    await ok(["compaction", String(rev)]);
    const p = etcdctlWatch(["watch", "--rev", String(rev - 1), "/cmp/k"]);
    const code = await p.waitExit(15_000);
    expect({ code, stdout: p.stdout, stderr: p.stderr }).toEqual({
      code: 5,
      stdout: "",
      stderr: "watch was canceled (etcdserver: mvcc: required revision has been compacted)\nError: watch is canceled by the server",
    });
    // At the compacted revision itself the history is still there.
    const at = etcdctlWatch(["watch", "--rev", String(rev), "/cmp/k"]);
    await at.waitOutput("event at the compaction revision", (out) => out === "PUT\n/cmp/k\n2\n");
    at.kill();
  });

  // ---- gRPC: what etcdctl does not ask for

  it("assigns watch IDs per stream from 0, takes client-chosen IDs, and refuses duplicates and empty ranges", async () => {
    const s = watchStream();
    const rev = await store().revision();
    s.create({ key: Buffer.from("/id/a") });
    s.create({ key: Buffer.from("/id/b") });
    s.create({ key: Buffer.from("/id/c"), watch_id: "100" });
    s.create({ key: Buffer.from("/id/d") });
    s.create({ key: Buffer.from("/id/e"), watch_id: "100" });
    s.create({ key: Buffer.from("/id/z"), range_end: Buffer.from("/id/a") });
    await s.next("six answers", () => s.responses.length >= 6);
    expect(s.responses.map(brief)).toEqual([
      { watch_id: "0", created: true, canceled: false, compact_revision: "0", cancel_reason: "", fragment: false, revision: String(rev), events: [] },
      { watch_id: "1", created: true, canceled: false, compact_revision: "0", cancel_reason: "", fragment: false, revision: String(rev), events: [] },
      { watch_id: "100", created: true, canceled: false, compact_revision: "0", cancel_reason: "", fragment: false, revision: String(rev), events: [] },
      { watch_id: "2", created: true, canceled: false, compact_revision: "0", cancel_reason: "", fragment: false, revision: String(rev), events: [] },
      {
        watch_id: "-1",
        created: true,
        canceled: true,
        compact_revision: "0",
        cancel_reason: "mvcc: duplicate watch ID provided on the WatchStream",
        fragment: false,
        revision: String(rev),
        events: [],
      },
      { watch_id: "-1", created: true, canceled: true, compact_revision: "0", cancel_reason: "mvcc: watcher range is empty", fragment: false, revision: String(rev), events: [] },
    ]);
    // Cancel answers with canceled; an unknown ID gets no answer at all.
    s.cancel(1);
    s.cancel(77);
    s.progress();
    const { index } = await s.next("cancel", (res) => res.canceled === true && res.watch_id === "1", 6);
    const progress = await s.next("progress", (res) => res.watch_id === "-1", 6);
    expect(progress.index).toBe(index + 1);
    // Events go to the right IDs; the canceled one gets none.
    const put = await store().put("/id/c", "v");
    await store().put("/id/b", "v");
    await store().put("/id/a", "v");
    const got = await s.next("event for 100", (res) => res.watch_id === "100", 8);
    expect(brief(got.res)).toEqual({
      watch_id: "100",
      created: false,
      canceled: false,
      compact_revision: "0",
      cancel_reason: "",
      fragment: false,
      revision: String(put),
      events: [`PUT /id/c@${put}/${put}/v1=v prev=-`],
    });
    await s.next("event for 0", (res) => res.watch_id === "0", 8);
    await sleep(200);
    expect(s.events(1)).toEqual([]);
  });

  it("filters NOPUT and NODELETE, sends prev_kv only when asked, and batches a txn's events in one response", async () => {
    const s = watchStream();
    s.create({ key: Buffer.from("/f/"), range_end: Buffer.from("/f0"), filters: ["NOPUT"], watch_id: "1" });
    s.create({ key: Buffer.from("/f/"), range_end: Buffer.from("/f0"), filters: ["NODELETE"], prev_kv: true, watch_id: "2" });
    s.create({ key: Buffer.from("/f/"), range_end: Buffer.from("/f0"), prev_kv: true, watch_id: "3" });
    // From-key: range_end "\0" means every key >= key.
    s.create({ key: Buffer.from("/f/b"), range_end: Buffer.from([0]), watch_id: "4" });
    await s.next("created", () => s.responses.length >= 4);
    const r1 = await store().put("/f/a", "1");
    const r2 = await store().txnPuts([
      ["/f/a", "2"],
      ["/f/b", "3"],
    ]);
    const r3 = await store().del("/f/", "/f0");
    await s.next("last event of 3", (res) => res.watch_id === "3" && (res.events as Msg[]).some((e) => e.type === "DELETE"));
    await sleep(300);
    expect(s.events(1).map(eventText)).toEqual([
      `DELETE /f/a@0/${r3}/v0= prev=-`,
      `DELETE /f/b@0/${r3}/v0= prev=-`,
    ]);
    expect(s.events(2).map(eventText)).toEqual([
      `PUT /f/a@${r1}/${r1}/v1=1 prev=-`,
      `PUT /f/a@${r1}/${r2}/v2=2 prev=/f/a@${r1}/${r1}/v1=1`,
      `PUT /f/b@${r2}/${r2}/v1=3 prev=-`,
    ]);
    expect(s.events(3).map(eventText)).toEqual([
      `PUT /f/a@${r1}/${r1}/v1=1 prev=-`,
      `PUT /f/a@${r1}/${r2}/v2=2 prev=/f/a@${r1}/${r1}/v1=1`,
      `PUT /f/b@${r2}/${r2}/v1=3 prev=-`,
      `DELETE /f/a@0/${r3}/v0= prev=/f/a@${r1}/${r2}/v2=2`,
      `DELETE /f/b@0/${r3}/v0= prev=/f/b@${r2}/${r2}/v1=3`,
    ]);
    expect(s.events(4).map(eventText)).toEqual([`PUT /f/b@${r2}/${r2}/v1=3 prev=-`, `DELETE /f/b@0/${r3}/v0= prev=-`]);
    // One response per revision here: the txn's two events and the range delete's two come together.
    const perResponse = s.responses.filter((res) => res.watch_id === "3" && (res.events as Msg[]).length > 0).map((res) => (res.events as Msg[]).length);
    expect(perResponse).toEqual([1, 2, 2]);
  });

  it("a watch from a future revision waits for it", async () => {
    const s = watchStream();
    const rev = await store().revision();
    s.create({ key: Buffer.from("/fut/k"), start_revision: String(rev + 2), watch_id: "1" });
    await s.next("created", (res) => res.created === true);
    await store().put("/fut/k", "early");
    const due = await store().put("/fut/k", "due");
    await store().put("/fut/k", "later");
    await s.next("events", () => s.events(1).length >= 2);
    await sleep(200);
    expect(s.events(1).map((e) => `${int((e.kv as Msg).mod_revision)}=${String((e.kv as Msg).value)}`)).toEqual([`${due}=due`, `${due + 1}=later`]);
  });

  it("cancels a watch from a compacted revision with compact_revision, and serves one from the compaction revision", async () => {
    await store().put("/c2/k", "1");
    const rev = await store().put("/c2/k", "2");
    await store().compact(rev);
    const s = watchStream();
    s.create({ key: Buffer.from("/c2/k"), start_revision: String(rev - 1), watch_id: "5" });
    s.create({ key: Buffer.from("/c2/k"), start_revision: String(rev), watch_id: "6" });
    // A negative start revision is below any compaction (etcd 3.4 takes it to the store as is).
    s.create({ key: Buffer.from("/c2/k"), start_revision: "-3", watch_id: "7" });
    const canceled = await s.next("compacted", (res) => res.watch_id === "5" && res.canceled === true);
    expect(brief(canceled.res)).toEqual({
      watch_id: "5",
      created: false,
      canceled: true,
      compact_revision: String(rev),
      cancel_reason: "",
      fragment: false,
      revision: "0",
      events: [],
    });
    const negative = await s.next("negative start compacted", (res) => res.watch_id === "7" && res.canceled === true);
    expect(brief(negative.res)).toMatchObject({ watch_id: "7", created: false, canceled: true, compact_revision: String(rev), revision: "0" });
    await s.next("event at the compaction revision", (res) => res.watch_id === "6" && (res.events as Msg[]).length > 0);
    expect(s.events(6).map(eventText)).toEqual([`PUT /c2/k@${rev - 1}/${rev}/v2=2 prev=-`]);
  });

  it("answers a progress request with the current revision, and sends periodic progress to progress_notify watches", async () => {
    const s = watchStream();
    s.create({ key: Buffer.from("/p/k"), progress_notify: true, watch_id: "1" });
    s.create({ key: Buffer.from("/p/other"), watch_id: "2" });
    await s.next("created", () => s.responses.length >= 2);
    const rev = await store().put("/unwatched", "x");
    s.progress();
    const answer = await s.next("progress answer", (res) => res.watch_id === "-1");
    expect(brief(answer.res)).toMatchObject({ watch_id: "-1", created: false, canceled: false, revision: String(rev), events: [] });
    // Periodic (the clusters run with --experimental-watch-progress-notify-interval 1s): only watch 1.
    const tick = await s.next("periodic progress", (res) => res.watch_id === "1" && res.created !== true, 0, 10_000);
    expect(brief(tick.res)).toMatchObject({ watch_id: "1", created: false, canceled: false, revision: String(rev), events: [] });
    await sleep(1500);
    expect(s.responses.filter((res) => res.watch_id === "2")).toHaveLength(1); // just its created
  });

  it("fragments a large response when asked to, and not otherwise", async () => {
    const big = Buffer.alloc(1_100_000, "x");
    const first = await store().put("/frag/a", big);
    await store().put("/frag/b", big);
    await store().put("/frag/c", big);
    const s = watchStream();
    s.create({ key: Buffer.from("/frag/"), range_end: Buffer.from("/frag0"), start_revision: String(first), fragment: true, watch_id: "1" });
    s.create({ key: Buffer.from("/frag/"), range_end: Buffer.from("/frag0"), start_revision: String(first), watch_id: "2" });
    await s.next("whole response", (res) => res.watch_id === "2" && (res.events as Msg[]).length > 0);
    await s.next("last fragment", (res) => res.watch_id === "1" && (res.events as Msg[]).length > 0 && res.fragment === false);
    const parts = s.responses.filter((res) => res.watch_id === "1" && (res.events as Msg[]).length > 0);
    expect(parts.map((res) => [res.fragment, (res.events as Msg[]).length])).toEqual([
      [true, 1],
      [true, 1],
      [false, 1],
    ]);
    const whole = s.responses.filter((res) => res.watch_id === "2" && (res.events as Msg[]).length > 0);
    expect(whole.map((res) => [res.fragment, (res.events as Msg[]).length])).toEqual([[false, 3]]);
  });

  it("a watcher that stops reading holds up no writer, and afterwards gets every event once, in order", async () => {
    const s = watchStream();
    const start = (await store().revision()) + 1;
    s.create({ key: Buffer.from("/slow/"), range_end: Buffer.from("/slow0"), watch_id: "1" });
    const other = watchStream(c().endpoints[0]);
    other.create({ key: Buffer.from("/slow/"), range_end: Buffer.from("/slow0"), watch_id: "1" });
    await s.next("created", () => s.responses.length >= 1);
    await other.next("created", () => other.responses.length >= 1);
    s.call.pause();
    const value = Buffer.alloc(2048, "v");
    const n = 3000;
    const writers = Array.from({ length: 16 }, async (_unused, w) => {
      for (let i = w; i < n; i += 16) await store().put(`/slow/${String(i).padStart(5, "0")}`, value);
    });
    await Promise.all(writers);
    const end = await store().revision();
    // The reading watcher kept up meanwhile.
    await other.next("other watcher caught up", () => other.events(1).length >= n, 0, 60_000);
    s.call.resume();
    await s.next("slow watcher caught up", () => s.events(1).length >= n, 0, 60_000);
    await sleep(300);
    const revs = s.events(1).map((e) => int((e.kv as Msg).mod_revision));
    expect(revs).toEqual(Array.from({ length: end - start + 1 }, (_unused, i) => start + i));
    expect(s.error).toBeUndefined();
  }, 120_000);

  // ---- Failures

  it("a watcher whose member is kill -9'd resumes on another member from last seen + 1 and misses nothing", async () => {
    const cl = c();
    const victim = cl.members[0] as Member;
    const survivors = cl.members.slice(1);
    const writer = new KvClient(survivors[0]?.clientUrl as string);
    const start = (await writer.revision()) + 1;
    const seen: number[] = [];
    const keys = new Map<number, string>();
    let stream = watchStream(victim.clientUrl);
    let lastSeen = start - 1;
    const follow = (s: WatchClient): void => {
      s.call.on("data", (res: Msg) => {
        for (const e of (res.events as Msg[] | undefined) ?? []) {
          const rev = int((e.kv as Msg).mod_revision);
          seen.push(rev);
          keys.set(rev, (e.kv as Msg).key?.toString() ?? "");
          lastSeen = rev;
        }
      });
    };
    follow(stream);
    stream.create({ key: Buffer.from("/fo/"), range_end: Buffer.from("/fo0"), start_revision: String(start) });
    await stream.next("created", (res) => res.created === true);

    let stop = false;
    let written = 0;
    let attempts = 0;
    const writes = (async () => {
      // Writes through the survivors only, retrying across the election the kill may cause; every
      // attempt has its own key, so a write that failed but was committed still shows up once.
      while (!stop) {
        try {
          await writer.put(`/fo/${String(attempts++).padStart(6, "0")}`, "v");
          written++;
        } catch {
          await sleep(100);
        }
      }
    })();
    await eventually("some events before the kill", 15_000, async () => (seen.length >= 50 ? true : undefined), 50);
    await victim.kill();
    await eventually("stream broken", 15_000, async () => (stream.error !== undefined || stream.ended ? true : undefined), 50);
    const resumeFrom = lastSeen + 1;
    stream = watchStream(survivors[1]?.clientUrl as string);
    follow(stream);
    stream.create({ key: Buffer.from("/fo/"), range_end: Buffer.from("/fo0"), start_revision: String(resumeFrom) });
    const before = written;
    await eventually("writes after the failover", 30_000, async () => (written >= before + 100 ? true : undefined), 100);
    stop = true;
    await writes;
    const end = await writer.revision();
    await eventually("watcher caught up", 30_000, async () => (lastSeen >= end ? true : undefined), 50);
    writer.close();
    expect(seen).toEqual(Array.from({ length: end - start + 1 }, (_unused, i) => start + i));
    expect(new Set(keys.values()).size).toBe(seen.length);
    await victim.start();
    await cl.waitHealthy(60_000);
  }, 120_000);

  it("cuts watch streams that require a leader once the member has none (etcdctl watch too)", async () => {
    const cl = c();
    const lone = cl.members[0] as Member;
    await cl.waitHealthy(60_000);
    const p = etcdctlWatch(["watch", "/nl/k"], [lone.clientUrl]);
    const required = watchStream(lone.clientUrl, { requireLeader: true });
    required.create({ key: Buffer.from("/nl/k") });
    const free = watchStream(lone.clientUrl);
    free.create({ key: Buffer.from("/nl/k") });
    await required.next("created", (res) => res.created === true);
    await free.next("created", (res) => res.created === true);
    await eventually("etcdctl watch established", 15_000, async () => {
      await store().put("/nl/k", "x");
      return p.stdout.includes("/nl/k") ? true : undefined;
    }, 300);
    for (const m of cl.members.slice(1)) await m.kill();
    const code = await p.waitExit(30_000);
    expect({ code, stderr: p.stderr }).toEqual({
      code: 5,
      stderr: "watch was canceled (etcdserver: no leader)\nError: watch is canceled by the server",
    });
    await eventually("stream with hasleader failed", 15_000, async () => (required.error !== undefined ? true : undefined), 50);
    expect({ code: required.error?.code, details: required.error?.details }).toEqual({
      code: grpc.status.UNAVAILABLE,
      details: "etcdserver: no leader",
    });
    // Without hasleader the stream lives on.
    expect(free.error).toBeUndefined();
    // A new stream that requires a leader is refused at once.
    const late = watchStream(lone.clientUrl, { requireLeader: true });
    late.create({ key: Buffer.from("/nl/k") });
    await eventually("refused", 15_000, async () => (late.error !== undefined ? true : undefined), 50);
    expect(late.error?.details).toBe("etcdserver: no leader");
  }, 120_000);
});
