// ketch-apiserver's fine points over plain HTTP (node fetch), side by side on etcd 3.4 and ketch
// stores: Status bodies for bad input, paging and continue tokens, resourceVersion semantics,
// watch (resume, selectors, bookmarks, initial events, 410 after compaction), generation,
// finalizers, binding, dry runs, create-on-update, response forms, and kube-style compaction.

import { describe, expect, it } from "vitest";

import { int, parseImpls, sleep } from "../../integration/cluster.js";
import { useApiCluster, type ApiCluster } from "./apiserver-harness.js";

const IMPLS = parseImpls(process.env.KETCH_IMPLS ?? "etcd,ketch");

interface WatchEvent {
  type: string;
  object: any;
}

/** A watch stream read line by line. */
class WatchReader {
  readonly events: WatchEvent[] = [];
  private done = false;
  private readonly controller = new AbortController();
  status = 0;
  readonly finished: Promise<void>;

  constructor(url: string, accept?: string) {
    this.finished = (async () => {
      try {
        const res = await fetch(url, { signal: this.controller.signal, headers: accept === undefined ? {} : { Accept: accept } });
        this.status = res.status;
        const reader = res.body!.getReader();
        let buffered = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffered += Buffer.from(value).toString("utf8");
          let nl = buffered.indexOf("\n");
          while (nl >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            if (line.trim() !== "") this.events.push(JSON.parse(line) as WatchEvent);
            nl = buffered.indexOf("\n");
          }
        }
      } catch (error) {
        if ((error as Error).name !== "AbortError") throw error;
      } finally {
        this.done = true;
      }
    })();
  }

  get ended(): boolean {
    return this.done;
  }

  async waitFor(what: string, predicate: (events: WatchEvent[]) => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.events)) {
      if (Date.now() > deadline) throw new Error(`watch: ${what} not seen within ${timeoutMs} ms; got ${JSON.stringify(this.events.map((e) => [e.type, e.object?.metadata?.name, e.object?.metadata?.resourceVersion]))}`);
      if (this.done && !predicate(this.events)) throw new Error(`watch ended before ${what}: ${JSON.stringify(this.events)}`);
      await sleep(50);
    }
  }

  close(): void {
    this.controller.abort();
  }
}

function nonBookmarks(events: WatchEvent[]): WatchEvent[] {
  return events.filter((e) => e.type !== "BOOKMARK");
}

async function currentRevision(c: ApiCluster): Promise<number> {
  const status = await c.store.status();
  return Math.max(...status.map((s) => s.revision));
}

async function compactStore(c: ApiCluster): Promise<number> {
  // A write outside the registry gives the compaction a revision of its own.
  await c.store.etcdctl(["put", "/test/compact-marker", String(Date.now())]);
  const revision = await currentRevision(c);
  const res = await c.store.etcdctl(["compaction", String(revision), "--physical"]);
  if (res.code !== 0) throw new Error(res.stderr);
  return revision;
}

async function createCm(c: ApiCluster, ns: string, name: string, labels: Record<string, string> = {}, server = 0): Promise<any> {
  const res = await c.request("POST", `/api/v1/namespaces/${ns}/configmaps`, { server, body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name, labels }, data: { v: "0" } } });
  if (res.status !== 201) throw new Error(`create ${ns}/${name}: ${res.status} ${res.text}`);
  return res.body;
}

for (const impl of IMPLS) {
  describe(`ketch-apiserver HTTP semantics on ${impl}`, () => {
    const cluster = useApiCluster(impl, { flags: ["--default-watch-cache-size", "50"] });

    it("malformed input is a 400/415 Status, never a stack trace; YAML bodies work", async () => {
      const c = cluster();
      const bad = await c.request("POST", "/api/v1/namespaces/default/configmaps", { body: '{"metadata": {"name": "x"' });
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ kind: "Status", status: "Failure", reason: "BadRequest", code: 400 });
      expect(bad.text).not.toMatch(/at .*\.js:\d+/);
      const arr = await c.request("POST", "/api/v1/namespaces/default/configmaps", { body: "[1,2]" });
      expect(arr.status).toBe(400);
      const kind = await c.request("POST", "/api/v1/namespaces/default/configmaps", { body: { apiVersion: "v1", kind: "Secret", metadata: { name: "x" } } });
      expect(kind.status).toBe(400);
      expect(kind.body.message).toContain("does not match the expected kind (ConfigMap)");
      const ns = await c.request("POST", "/api/v1/namespaces/default/configmaps", { body: { metadata: { name: "x", namespace: "other" } } });
      expect(ns.status).toBe(400);
      expect(ns.body.message).toBe("the namespace of the provided object does not match the namespace sent on the request");
      const yaml = await c.request("POST", "/api/v1/namespaces/default/configmaps", { contentType: "application/yaml", body: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  k: v\n" });
      expect(yaml.status, yaml.text).toBe(201);
      expect(yaml.body.data).toEqual({ k: "v" });
      const media = await c.request("POST", "/api/v1/namespaces/default/configmaps", { contentType: "text/plain", body: "hello" });
      expect(media.status).toBe(415);
      expect(media.body.reason).toBe("UnsupportedMediaType");
      const patchMedia = await c.request("PATCH", "/api/v1/namespaces/default/configmaps/from-yaml", { contentType: "application/json", body: {} });
      expect(patchMedia.status).toBe(415);
      const badPatch = await c.request("PATCH", "/api/v1/namespaces/default/configmaps/from-yaml", { contentType: "application/merge-patch+json", body: "{nope" });
      expect(badPatch.status).toBe(400);
      const wrongName = await c.request("PUT", "/api/v1/namespaces/default/configmaps/from-yaml", { body: { metadata: { name: "other" } } });
      expect(wrongName.status).toBe(400);
      expect(wrongName.body.message).toBe("the name of the object (other) does not match the name on the URL (from-yaml)");
    });

    it("unknown paths are 404 and unsupported verbs 405, as Status objects", async () => {
      const c = cluster();
      const none = await c.request("GET", "/api/v1/nothings");
      expect(none.status).toBe(404);
      expect(none.body).toMatchObject({ kind: "Status", reason: "NotFound", message: "the server could not find the requested resource" });
      expect((await c.request("GET", "/apis/nosuch.example.com/v1")).status).toBe(404);
      expect((await c.request("GET", "/api/v1/namespaces/default/pods/x/nosub")).status).toBe(404);
      const post = await c.request("POST", "/api/v1/namespaces/default/configmaps/x", { body: {} });
      expect(post.status).toBe(405);
      expect(post.body.reason).toBe("MethodNotAllowed");
      const delNs = await c.request("DELETE", "/api/v1/namespaces");
      expect(delNs.status).toBe(405);
      const get = await c.request("GET", "/api/v1/namespaces/default/configmaps/missing");
      expect(get.body).toEqual({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: 'configmaps "missing" not found', reason: "NotFound", details: { name: "missing", kind: "configmaps" }, code: 404 });
      const version = await c.request("GET", "/version");
      expect(version.body.gitVersion).toMatch(/^v1\.\d+\.\d+/);
      expect((await c.request("GET", "/healthz")).text).toBe("ok");
      expect((await c.request("GET", "/livez")).text).toBe("ok");
      expect((await c.request("GET", "/readyz?verbose")).text).toContain("[+]etcd ok");
    });

    it("lists page with limit/continue at one pinned revision, also with selectors", async () => {
      const c = cluster();
      await c.request("POST", "/api/v1/namespaces", { body: { metadata: { name: "paging" } } });
      for (let i = 0; i < 7; i++) await createCm(c, "paging", `cm-${i}`, { parity: i % 2 === 0 ? "even" : "odd" }, i % 2);
      const first = await c.request("GET", "/api/v1/namespaces/paging/configmaps?limit=3");
      expect(first.body.items.map((i: any) => i.metadata.name)).toEqual(["cm-0", "cm-1", "cm-2"]);
      expect(first.body.metadata.continue).toBeTruthy();
      const rv = first.body.metadata.resourceVersion;
      // Writes after the first page do not show up in later pages (same revision).
      await createCm(c, "paging", "cm-late");
      const names: string[] = first.body.items.map((i: any) => i.metadata.name);
      let token = first.body.metadata.continue as string;
      while (token) {
        const page = await c.request("GET", `/api/v1/namespaces/paging/configmaps?limit=3&continue=${encodeURIComponent(token)}`, { server: 1 });
        expect(page.status, page.text).toBe(200);
        expect(page.body.metadata.resourceVersion).toBe(rv);
        names.push(...page.body.items.map((i: any) => i.metadata.name));
        token = page.body.metadata.continue ?? "";
      }
      expect(names).toEqual(["cm-0", "cm-1", "cm-2", "cm-3", "cm-4", "cm-5", "cm-6"]);
      const even = await c.request("GET", "/api/v1/namespaces/paging/configmaps?labelSelector=parity%3Deven&limit=2");
      expect(even.body.items.map((i: any) => i.metadata.name)).toEqual(["cm-0", "cm-2"]);
      const rest = await c.request("GET", `/api/v1/namespaces/paging/configmaps?labelSelector=parity%3Deven&limit=2&continue=${encodeURIComponent(even.body.metadata.continue)}`);
      expect(rest.body.items.map((i: any) => i.metadata.name)).toEqual(["cm-4", "cm-6"]);
      const byName = await c.request("GET", "/api/v1/namespaces/paging/configmaps?fieldSelector=metadata.name%3Dcm-3");
      expect(byName.body.items.map((i: any) => i.metadata.name)).toEqual(["cm-3"]);
      const notName = await c.request("GET", "/api/v1/configmaps?fieldSelector=metadata.namespace%3Dpaging,metadata.name!%3Dcm-3");
      expect(notName.body.items).toHaveLength(7);
      const badSel = await c.request("GET", "/api/v1/configmaps?fieldSelector=spec.nodeName%3Dx");
      expect(badSel.status).toBe(400);
      expect(badSel.body.message).toContain("spec.nodeName");
      const withRv = await c.request("GET", `/api/v1/namespaces/paging/configmaps?limit=3&resourceVersion=${rv}&continue=${encodeURIComponent(first.body.metadata.continue)}`);
      expect(withRv.status).toBe(400);
    });

    it("resourceVersion: the mod revision; Exact reads the past; a compacted continue token is 410 Expired", async () => {
      const c = cluster();
      const cm = await createCm(c, "default", "rv-test");
      const parsed = (await c.store.etcdctlJson(["get", "/registry/configmaps/default/rv-test"])) as { kvs: { mod_revision: string }[] };
      expect(cm.metadata.resourceVersion).toBe(String(int(parsed.kvs[0]!.mod_revision)));
      const before = cm.metadata.resourceVersion as string;
      const patched = await c.request("PATCH", "/api/v1/namespaces/default/configmaps/rv-test", { contentType: "application/merge-patch+json", body: { data: { v: "1" } } });
      expect(Number(patched.body.metadata.resourceVersion)).toBeGreaterThan(Number(before));
      const past = await c.request("GET", `/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Drv-test&resourceVersion=${before}&resourceVersionMatch=Exact`);
      expect(past.body.items[0].data).toEqual({ v: "0" });
      expect(past.body.metadata.resourceVersion).toBe(before);
      const stale = await c.request("PUT", "/api/v1/namespaces/default/configmaps/rv-test", { body: { ...cm, data: { v: "stale" } } });
      expect(stale.status).toBe(409);
      expect(stale.body.reason).toBe("Conflict");
      const first = await c.request("GET", "/api/v1/namespaces?limit=1");
      const token = first.body.metadata.continue as string;
      await compactStore(c);
      const expired = await c.request("GET", `/api/v1/namespaces?limit=1&continue=${encodeURIComponent(token)}`);
      expect(expired.status).toBe(410);
      expect(expired.body.reason).toBe("Expired");
      expect(expired.body.message).toContain("The provided continue parameter is too old");
      const exactOld = await c.request("GET", `/api/v1/namespaces/default/configmaps?resourceVersion=${before}&resourceVersionMatch=Exact`);
      expect(exactOld.status).toBe(410);
      expect(exactOld.body.message).toMatch(/^too old resource version: \d+ \(\d+\)$/);
    });

    it("watch resumes from a resourceVersion on either replica; selectors turn updates into ADDED/DELETED", async () => {
      const c = cluster();
      await c.request("POST", "/api/v1/namespaces", { body: { metadata: { name: "watching" } } });
      const a = await createCm(c, "watching", "a", { color: "red" });
      const list = await c.request("GET", "/api/v1/namespaces/watching/configmaps");
      const rv = list.body.metadata.resourceVersion as string;
      await c.request("PATCH", "/api/v1/namespaces/watching/configmaps/a", { server: 1, contentType: "application/merge-patch+json", body: { data: { v: "1" } } });
      await createCm(c, "watching", "b", { color: "blue" }, 1);
      // Started after the writes, from the list's revision: it must replay them, in order.
      const all = new WatchReader(`${c.url(0)}/api/v1/namespaces/watching/configmaps?watch=1&resourceVersion=${rv}`);
      const one = new WatchReader(`${c.url(1)}/api/v1/namespaces/watching/configmaps?watch=true&resourceVersion=${rv}&fieldSelector=metadata.name%3Da`);
      const red = new WatchReader(`${c.url(1)}/api/v1/namespaces/watching/configmaps?watch=true&resourceVersion=${rv}&labelSelector=color%3Dred`);
      try {
        await all.waitFor("MODIFIED a and ADDED b", (e) => nonBookmarks(e).length >= 2);
        expect(nonBookmarks(all.events).map((e) => [e.type, e.object.metadata.name])).toEqual([["MODIFIED", "a"], ["ADDED", "b"]]);
        expect(all.events[0]!.object.data).toEqual({ v: "1" });
        expect(Number(all.events[0]!.object.metadata.resourceVersion)).toBeGreaterThan(Number(a.metadata.resourceVersion));
        await c.request("PATCH", "/api/v1/namespaces/watching/configmaps/a", { contentType: "application/merge-patch+json", body: { metadata: { labels: { color: "blue" } } } });
        await c.request("PATCH", "/api/v1/namespaces/watching/configmaps/b", { server: 1, contentType: "application/merge-patch+json", body: { metadata: { labels: { color: "red" } } } });
        await c.request("DELETE", "/api/v1/namespaces/watching/configmaps/a", { server: 1 });
        await all.waitFor("DELETED a", (e) => nonBookmarks(e).some((x) => x.type === "DELETED"));
        await one.waitFor("DELETED a", (e) => nonBookmarks(e).some((x) => x.type === "DELETED"));
        expect(nonBookmarks(one.events).map((e) => [e.type, e.object.metadata.name])).toEqual([["MODIFIED", "a"], ["MODIFIED", "a"], ["DELETED", "a"]]);
        await red.waitFor("b entering the selection", (e) => nonBookmarks(e).some((x) => x.object.metadata.name === "b"));
        expect(nonBookmarks(red.events).map((e) => [e.type, e.object.metadata.name])).toEqual([["MODIFIED", "a"], ["DELETED", "a"], ["ADDED", "b"]]);
        const deleted = nonBookmarks(all.events).find((e) => e.type === "DELETED")!;
        expect(Number(deleted.object.metadata.resourceVersion)).toBeGreaterThan(Number(nonBookmarks(all.events).at(-2)!.object.metadata.resourceVersion));
      } finally {
        all.close();
        one.close();
        red.close();
      }
    });

    it("watch: bookmarks when allowed, initial events with sendInitialEvents, a whole-list watch without resourceVersion", async () => {
      const c = cluster();
      await createCm(c, "default", "bm");
      const list = await c.request("GET", "/api/v1/namespaces/default/configmaps");
      const rv = Number(list.body.metadata.resourceVersion);
      const bookmarks = new WatchReader(`${c.url(1)}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true`);
      const initial = new WatchReader(`${c.url(0)}/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan`);
      const fresh = new WatchReader(`${c.url(0)}/api/v1/namespaces/default/configmaps?watch=1&fieldSelector=metadata.name%3Dbm`);
      try {
        await bookmarks.waitFor("a bookmark", (e) => e.some((x) => x.type === "BOOKMARK"));
        const bm = bookmarks.events.find((x) => x.type === "BOOKMARK")!;
        expect(bm.object.kind).toBe("ConfigMap");
        expect(Number(bm.object.metadata.resourceVersion)).toBeGreaterThanOrEqual(rv);
        await initial.waitFor("the initial-events-end bookmark", (e) => e.some((x) => x.type === "BOOKMARK" && x.object.metadata.annotations?.["k8s.io/initial-events-end"] === "true"));
        const names = initial.events.filter((x) => x.type === "ADDED").map((x) => x.object.metadata.name);
        expect(names).toEqual(list.body.items.map((i: any) => i.metadata.name));
        await fresh.waitFor("the synthetic ADDED", (e) => e.length >= 1);
        expect(fresh.events.map((e) => [e.type, e.object.metadata.name])).toEqual([["ADDED", "bm"]]);
        await c.request("PATCH", "/api/v1/namespaces/default/configmaps/bm", { server: 1, contentType: "application/merge-patch+json", body: { data: { v: "2" } } });
        await fresh.waitFor("the MODIFIED", (e) => e.length >= 2);
        expect(fresh.events[1]!.type).toBe("MODIFIED");
      } finally {
        bookmarks.close();
        initial.close();
        fresh.close();
      }
      // A watch of one named object, the way client-go's single-object watch asks for it.
      const named = new WatchReader(`${c.url(1)}/api/v1/watch/namespaces/default/configmaps/bm`);
      try {
        await named.waitFor("ADDED bm", (e) => e.length >= 1);
        expect(named.events[0]!.object.metadata.name).toBe("bm");
      } finally {
        named.close();
      }
      // timeoutSeconds ends the stream.
      const short = new WatchReader(`${c.url(0)}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${rv}&timeoutSeconds=1`);
      await short.finished;
      expect(short.status).toBe(200);
    });

    it("a watch from a compacted resourceVersion older than the cache gets an ERROR event with 410 Expired", async () => {
      const c = cluster();
      const old = (await createCm(c, "default", "compact-me")).metadata.resourceVersion as string;
      // Push the old revision out of the watch cache (50 events here) and compact the store.
      for (let i = 0; i < 60; i++) {
        await c.request("PATCH", "/api/v1/namespaces/default/configmaps/compact-me", { server: i % 2, contentType: "application/merge-patch+json", body: { data: { v: String(i) } } });
      }
      await compactStore(c);
      for (const server of [0, 1]) {
        const w = new WatchReader(`${c.url(server)}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${old}`);
        try {
          await w.waitFor("the ERROR event", (e) => e.some((x) => x.type === "ERROR"));
          const err = w.events.find((x) => x.type === "ERROR")!;
          expect(err.object).toMatchObject({ kind: "Status", status: "Failure", reason: "Expired", code: 410 });
          expect(err.object.message).toMatch(/^too old resource version: \d+ \(\d+\)$/);
        } finally {
          w.close();
        }
      }
      // A recent revision is still served from the cache.
      const list = await c.request("GET", "/api/v1/namespaces/default/configmaps");
      const recent = new WatchReader(`${c.url(1)}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${list.body.metadata.resourceVersion}`);
      try {
        await c.request("DELETE", "/api/v1/namespaces/default/configmaps/compact-me");
        await recent.waitFor("DELETED", (e) => e.some((x) => x.type === "DELETED"));
      } finally {
        recent.close();
      }
    });

    it("generation moves with spec changes only; finalizers hold a deleted object until they are removed", async () => {
      const c = cluster();
      const deploy = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "gen" }, spec: { replicas: 1, selector: { matchLabels: { a: "b" } }, template: { metadata: { labels: { a: "b" } }, spec: { containers: [{ name: "c", image: "nginx" }] } } } };
      const created = await c.request("POST", "/apis/apps/v1/namespaces/default/deployments", { body: deploy });
      expect(created.status, created.text).toBe(201);
      expect(created.body.metadata.generation).toBe(1);
      expect(created.body.spec.strategy.type).toBe("RollingUpdate");
      expect(created.body.spec.revisionHistoryLimit).toBe(10);
      const labeled = await c.request("PATCH", "/apis/apps/v1/namespaces/default/deployments/gen", { contentType: "application/merge-patch+json", body: { metadata: { labels: { x: "y" } } } });
      expect(labeled.body.metadata.generation).toBe(1);
      const status = await c.request("PATCH", "/apis/apps/v1/namespaces/default/deployments/gen/status", { server: 1, contentType: "application/merge-patch+json", body: { status: { observedGeneration: 1, replicas: 1 }, spec: { replicas: 9 } } });
      expect(status.status, status.text).toBe(200);
      expect(status.body.status.replicas).toBe(1);
      expect(status.body.spec.replicas).toBe(1);
      expect(status.body.metadata.generation).toBe(1);
      const mainIgnoresStatus = await c.request("PATCH", "/apis/apps/v1/namespaces/default/deployments/gen", { contentType: "application/merge-patch+json", body: { spec: { replicas: 2 }, status: { replicas: 7 } } });
      expect(mainIgnoresStatus.body.metadata.generation).toBe(2);
      expect(mainIgnoresStatus.body.status.replicas).toBe(1);
      const immutable = await c.request("PATCH", "/apis/apps/v1/namespaces/default/deployments/gen", { contentType: "application/merge-patch+json", body: { spec: { selector: { matchLabels: { a: "c" } } } } });
      expect(immutable.status).toBe(422);

      await c.request("PATCH", "/apis/apps/v1/namespaces/default/deployments/gen", { contentType: "application/merge-patch+json", body: { metadata: { finalizers: ["example.com/keep"] } } });
      const del = await c.request("DELETE", "/apis/apps/v1/namespaces/default/deployments/gen", { server: 1 });
      expect(del.status).toBe(200);
      expect(del.body.metadata.deletionTimestamp).toBeDefined();
      const still = await c.request("GET", "/apis/apps/v1/namespaces/default/deployments/gen");
      expect(still.status).toBe(200);
      expect(still.body.metadata.generation).toBe(3);
      const addFinalizer = await c.request("PATCH", "/apis/apps/v1/namespaces/default/deployments/gen", { contentType: "application/merge-patch+json", body: { metadata: { finalizers: ["example.com/keep", "example.com/more"] } } });
      expect(addFinalizer.status).toBe(422);
      const removed = await c.request("PATCH", "/apis/apps/v1/namespaces/default/deployments/gen", { contentType: "application/json-patch+json", body: [{ op: "remove", path: "/metadata/finalizers" }] });
      expect(removed.status, removed.text).toBe(200);
      expect((await c.request("GET", "/apis/apps/v1/namespaces/default/deployments/gen")).status).toBe(404);
      const gone = await c.request("DELETE", "/apis/apps/v1/namespaces/default/deployments/gen");
      expect(gone.status).toBe(404);
    });

    it("pods/binding assigns a node once; preconditions on delete; dry runs write nothing", async () => {
      const c = cluster();
      const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "bindme" }, spec: { containers: [{ name: "c", image: "nginx" }] } };
      const created = await c.request("POST", "/api/v1/namespaces/default/pods", { body: pod });
      expect(created.status).toBe(201);
      const bind = await c.request("POST", "/api/v1/namespaces/default/pods/bindme/binding", { server: 1, body: { apiVersion: "v1", kind: "Binding", metadata: { name: "bindme" }, target: { apiVersion: "v1", kind: "Node", name: "node-1" } } });
      expect(bind.status, bind.text).toBe(201);
      expect(bind.body).toMatchObject({ kind: "Status", status: "Success" });
      const bound = await c.request("GET", "/api/v1/namespaces/default/pods/bindme");
      expect(bound.body.spec.nodeName).toBe("node-1");
      expect(bound.body.status.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: "PodScheduled", status: "True" })]));
      const again = await c.request("POST", "/api/v1/namespaces/default/pods/bindme/binding", { body: { metadata: { name: "bindme" }, target: { kind: "Node", name: "node-2" } } });
      expect(again.status).toBe(409);
      expect(again.body.message).toBe('Operation cannot be fulfilled on pods/binding "bindme": pod bindme is already assigned to node "node-1"');
      const wrongUid = await c.request("DELETE", "/api/v1/namespaces/default/pods/bindme", { body: { kind: "DeleteOptions", apiVersion: "v1", gracePeriodSeconds: 0, preconditions: { uid: "00000000-0000-0000-0000-000000000000" } } });
      expect(wrongUid.status).toBe(409);
      expect(wrongUid.body.message).toContain("Precondition failed: UID in precondition");
      const dry = await c.request("POST", "/api/v1/namespaces/default/configmaps?dryRun=All", { body: { metadata: { name: "dry" } } });
      expect(dry.status).toBe(201);
      expect(dry.body.metadata.uid).toBeDefined();
      expect((await c.request("GET", "/api/v1/namespaces/default/configmaps/dry")).status).toBe(404);
      const dryDel = await c.request("DELETE", "/api/v1/namespaces/default/pods/bindme?dryRun=All&gracePeriodSeconds=0");
      expect(dryDel.status).toBe(200);
      expect((await c.request("GET", "/api/v1/namespaces/default/pods/bindme")).status).toBe(200);
      const now = await c.request("DELETE", "/api/v1/namespaces/default/pods/bindme?gracePeriodSeconds=0", { server: 1 });
      expect(now.status).toBe(200);
      expect(now.body.kind).toBe("Pod");
      expect((await c.request("GET", "/api/v1/namespaces/default/pods/bindme")).status).toBe(404);
      const generated = await c.request("POST", "/api/v1/namespaces/default/configmaps", { body: { metadata: { generateName: "gen-" } } });
      expect(generated.status).toBe(201);
      expect(generated.body.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
    });

    it("a terminating namespace stays while its content or any finalizer holds it", async () => {
      const c = cluster();
      await c.request("POST", "/api/v1/namespaces", { body: { metadata: { name: "held", finalizers: ["example.com/ns-hold"] } } });
      const cm = await c.request("POST", "/api/v1/namespaces/held/configmaps", { body: { metadata: { name: "pinned", finalizers: ["example.com/cm-hold"] } } });
      expect(cm.status, cm.text).toBe(201);
      const del = await c.request("DELETE", "/api/v1/namespaces/held");
      expect(del.status).toBe(200);
      expect(del.body.status.phase).toBe("Terminating");
      expect(del.body.spec.finalizers).toEqual(["kubernetes"]);
      // The namespace's own finalizer goes first: the content still holds it (spec.finalizers).
      const unpinNs = await c.request("PATCH", "/api/v1/namespaces/held", { server: 1, contentType: "application/merge-patch+json", body: { metadata: { finalizers: null } } });
      expect(unpinNs.status, unpinNs.text).toBe(200);
      await sleep(1500);
      const still = await c.request("GET", "/api/v1/namespaces/held");
      expect(still.status).toBe(200);
      expect(still.body.spec.finalizers).toEqual(["kubernetes"]);
      const pinned = await c.request("GET", "/api/v1/namespaces/held/configmaps/pinned");
      expect(pinned.body.metadata.deletionTimestamp).toBeDefined();
      await c.request("PATCH", "/api/v1/namespaces/held/configmaps/pinned", { contentType: "application/merge-patch+json", body: { metadata: { finalizers: null } } });
      const deadline = Date.now() + 30_000;
      while ((await c.request("GET", "/api/v1/namespaces/held", { server: 1 })).status !== 404) {
        if (Date.now() > deadline) throw new Error("namespace not removed after its content went");
        await sleep(200);
      }
    });

    it("many client watches share the replica's one store watch", async () => {
      const c = cluster();
      const metric = async (name: string): Promise<number> => {
        const text = (await c.request("GET", "/metrics")).text;
        const line = text.split("\n").find((l) => l.startsWith(`${name} `));
        if (line === undefined) throw new Error(`${name} missing from /metrics:\n${text}`);
        return Number(line.split(" ")[1]);
      };
      const storeWatchesBefore = await metric("ketch_apiserver_store_watches");
      expect(storeWatchesBefore).toBe(1);
      // The replica's own namespace cache is a client of the watch cache too.
      const baseline = await metric("apiserver_registered_watchers");
      const list = await c.request("GET", "/api/v1/namespaces/default/configmaps");
      const watchers = Array.from({ length: 30 }, (_unused, i) =>
        new WatchReader(`${c.url(0)}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${list.body.metadata.resourceVersion}${i % 3 === 0 ? "&fieldSelector=metadata.name%3Dfanout" : ""}`),
      );
      try {
        const deadline = Date.now() + 10_000;
        while ((await metric("apiserver_registered_watchers")) < baseline + 30) {
          if (Date.now() > deadline) throw new Error("watchers did not register");
          await sleep(100);
        }
        expect(await metric("ketch_apiserver_store_watches")).toBe(1);
        await createCm(c, "default", "fanout", {}, 1);
        for (const w of watchers) await w.waitFor("ADDED fanout", (e) => e.some((x) => x.type === "ADDED" && x.object.metadata.name === "fanout"));
      } finally {
        for (const w of watchers) w.close();
      }
      const deadline = Date.now() + 10_000;
      while ((await metric("apiserver_registered_watchers")) > baseline) {
        if (Date.now() > deadline) throw new Error("watchers were not released when the clients went away");
        await sleep(100);
      }
    });

    it("propagationPolicy: Background deletes dependents, Orphan strips their ownerReferences, Foreground waits for them", async () => {
      const c = cluster();
      const ns = "cascade";
      await c.request("POST", "/api/v1/namespaces", { body: { metadata: { name: ns } } });
      const makeTree = async (name: string): Promise<void> => {
        const template = { metadata: { labels: { app: name } }, spec: { containers: [{ name: "c", image: "nginx" }] } };
        const d = await c.request("POST", `/apis/apps/v1/namespaces/${ns}/deployments`, { body: { metadata: { name }, spec: { replicas: 1, selector: { matchLabels: { app: name } }, template } } });
        const owner = (kind: string, obj: any, apiVersion: string) => [{ apiVersion, kind, name: obj.metadata.name, uid: obj.metadata.uid, controller: true, blockOwnerDeletion: true }];
        const rs = await c.request("POST", `/apis/apps/v1/namespaces/${ns}/replicasets`, { body: { metadata: { name: `${name}-rs`, ownerReferences: owner("Deployment", d.body, "apps/v1") }, spec: { replicas: 1, selector: { matchLabels: { app: name } }, template } } });
        expect(rs.status, rs.text).toBe(201);
        for (const i of [1, 2]) {
          const pod = await c.request("POST", `/api/v1/namespaces/${ns}/pods`, { body: { metadata: { name: `${name}-pod-${i}`, labels: { app: name }, ownerReferences: owner("ReplicaSet", rs.body, "apps/v1") }, spec: template.spec } });
          expect(pod.status, pod.text).toBe(201);
        }
      };
      const names = async (path: string): Promise<string[]> => (await c.request("GET", path)).body.items.map((i: any) => i.metadata.name);
      const until = async (what: string, check: () => Promise<boolean>): Promise<void> => {
        const deadline = Date.now() + 20_000;
        while (!(await check())) {
          if (Date.now() > deadline) throw new Error(`${what}: not reached`);
          await sleep(200);
        }
      };
      await makeTree("bg");
      await makeTree("orphan");
      await makeTree("fg");
      const bg = await c.request("DELETE", `/apis/apps/v1/namespaces/${ns}/deployments/bg`, { body: { propagationPolicy: "Background" } });
      expect(bg.status).toBe(200);
      await until("bg's replicaset and pods deleted", async () => (await names(`/api/v1/namespaces/${ns}/pods?labelSelector=app%3Dbg`)).length === 0 && (await names(`/apis/apps/v1/namespaces/${ns}/replicasets?labelSelector=app%3Dbg`)).length === 0);
      const orphan = await c.request("DELETE", `/apis/apps/v1/namespaces/${ns}/deployments/orphan?propagationPolicy=Orphan`, { server: 1 });
      expect(orphan.status).toBe(200);
      const rs = await c.request("GET", `/apis/apps/v1/namespaces/${ns}/replicasets/orphan-rs`);
      expect(rs.status).toBe(200);
      expect(rs.body.metadata.ownerReferences).toBeUndefined();
      expect(await names(`/api/v1/namespaces/${ns}/pods?labelSelector=app%3Dorphan`)).toHaveLength(2);
      const fg = await c.request("DELETE", `/apis/apps/v1/namespaces/${ns}/deployments/fg`, { body: { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: "Foreground" } });
      expect(fg.status).toBe(200);
      expect(fg.body.metadata.finalizers).toContain("foregroundDeletion");
      expect(fg.body.metadata.deletionTimestamp).toBeDefined();
      await until("fg and its dependents deleted", async () => (await c.request("GET", `/apis/apps/v1/namespaces/${ns}/deployments/fg`)).status === 404);
      expect(await names(`/api/v1/namespaces/${ns}/pods?labelSelector=app%3Dfg`)).toEqual([]);
      expect(await names(`/apis/apps/v1/namespaces/${ns}/replicasets?labelSelector=app%3Dfg`)).toEqual([]);
    });

    it("PUT creates leases and endpoints (create-on-update) but not configmaps; response forms follow Accept", async () => {
      const c = cluster();
      const lease = { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "holder", namespace: "kube-node-lease" }, spec: { holderIdentity: "n1", leaseDurationSeconds: 40, renewTime: "2024-01-01T00:00:00.000000Z" } };
      const put = await c.request("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/holder", { body: lease });
      expect(put.status, put.text).toBe(201);
      const update = await c.request("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/holder", { server: 1, body: { ...put.body, spec: { ...put.body.spec, holderIdentity: "n2" } } });
      expect(update.status).toBe(200);
      expect(update.body.spec.holderIdentity).toBe("n2");
      const stale = await c.request("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/holder", { body: { ...put.body, spec: { ...put.body.spec, holderIdentity: "n3" } } });
      expect(stale.status).toBe(409);
      const cm = await c.request("PUT", "/api/v1/namespaces/default/configmaps/not-there", { body: { metadata: { name: "not-there" } } });
      expect(cm.status).toBe(404);
      const ep = await c.request("PUT", "/api/v1/namespaces/default/endpoints/ep-put", { body: { metadata: { name: "ep-put" }, subsets: [{ addresses: [{ ip: "10.1.2.3" }], ports: [{ port: 80 }] }] } });
      expect(ep.status, ep.text).toBe(201);
      expect(ep.body.subsets[0].ports[0].protocol).toBe("TCP");

      const table = await c.request("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", { accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json" });
      expect(table.body.kind).toBe("Table");
      expect(table.body.columnDefinitions.map((d: any) => d.name)).toEqual(["Name", "Holder", "Age"]);
      expect(table.body.rows[0].cells.slice(0, 2)).toEqual(["holder", "n2"]);
      expect(table.body.rows[0].object.kind).toBe("PartialObjectMetadata");
      const withObject = await c.request("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/holder?includeObject=Object", { accept: "application/json;as=Table;v=v1;g=meta.k8s.io" });
      expect(withObject.body.rows[0].object.kind).toBe("Lease");
      const meta = await c.request("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", { accept: "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io" });
      expect(meta.body.kind).toBe("PartialObjectMetadataList");
      expect(meta.body.items[0].metadata.name).toBe("holder");
      const yaml = await c.request("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/holder", { accept: "application/yaml" });
      expect(yaml.headers.get("content-type")).toBe("application/yaml");
      expect(yaml.text).toContain("holderIdentity: n2");
      const protobufOnly = await c.request("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/holder", { accept: "application/vnd.kubernetes.protobuf" });
      expect(protobufOnly.status).toBe(406);
    });
  });
}

for (const impl of IMPLS) describe(`compaction by the apiservers (kube-apiserver's compact_rev_key protocol) on ${impl}`, () => {
  const cluster = useApiCluster(impl, { members: 1, replicas: 2, flags: ["--etcd-compaction-interval", "1s"] });

  it("both replicas compete through compact_rev_key and the store gets compacted about once per interval", async () => {
    const c = cluster();
    const start = await currentRevision(c);
    await createCm(c, "default", "before-compaction");
    await sleep(5000);
    const key = (await c.store.etcdctlJson(["get", "compact_rev_key"])) as { kvs?: { version: string; value: string }[] };
    const kv = key.kvs?.[0];
    expect(kv).toBeDefined();
    const version = int(kv!.version);
    // Two replicas, ~5 intervals: one winner per interval, not two.
    expect(version).toBeGreaterThanOrEqual(2);
    expect(version).toBeLessThanOrEqual(9);
    const old = await c.store.etcdctl(["get", "/registry/namespaces/default", `--rev=${start}`]);
    expect(old.code).not.toBe(0);
    expect(old.stderr).toContain("required revision has been compacted");
  });
});
