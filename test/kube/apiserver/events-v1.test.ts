// events.k8s.io/v1 Event as a second view of the stored core/v1 Events, driven by the real kubectl
// against 2 ketch-apiserver replicas on one ketch store: discovery lists it; an Event created
// through either API reads back through the other with kube's field mapping (message↔note,
// involvedObject↔regarding, source↔deprecatedSource, count/firstTimestamp/lastTimestamp↔deprecated*,
// reportingComponent↔reportingController) and sits at the one key /registry/events/NS/NAME in the
// core form; `kubectl events -A`, `kubectl events --for pod/NAME` and
// `kubectl get events.v1.events.k8s.io -A` show them; field selectors use each version's labels;
// watches of both versions on one key each get their own form; events.k8s.io creates get kube's
// stricter validation.

import { describe, expect, it } from "vitest";

import { int } from "../../integration/cluster.js";
import { useApiCluster, type ApiCluster } from "./apiserver-harness.js";

const coreEventYaml = `apiVersion: v1
kind: Event
metadata:
  name: web.core1
  namespace: default
involvedObject:
  kind: Pod
  name: web
  namespace: default
  apiVersion: v1
reason: Scheduled
message: Successfully assigned default/web to node-1
source:
  component: default-scheduler
type: Normal
count: 3
firstTimestamp: "2026-01-01T00:00:00Z"
lastTimestamp: "2026-01-01T00:05:00Z"
reportingComponent: default-scheduler
reportingInstance: sched-a
`;

const v1EventYaml = `apiVersion: events.k8s.io/v1
kind: Event
metadata:
  name: web.v1new
  namespace: default
eventTime: "2026-01-01T00:06:00.000000Z"
reportingController: example.com/puller
reportingInstance: puller-7
action: Pulling
reason: Pulling
regarding:
  kind: Pod
  name: web
  namespace: default
  apiVersion: v1
  fieldPath: spec.containers{c}
note: Pulling image "nginx:1.20"
type: Normal
`;

const otherEventYaml = `apiVersion: events.k8s.io/v1
kind: Event
metadata:
  name: db.v1new
  namespace: kube-system
eventTime: "2026-01-01T00:07:00.000000Z"
reportingController: example.com/puller
reportingInstance: puller-7
action: Pulling
reason: BackOff
regarding:
  kind: Pod
  name: db
  namespace: kube-system
note: Back-off pulling image
type: Warning
`;

async function stored(c: ApiCluster, key: string): Promise<{ value: any; lease: string }> {
  const parsed = (await c.store.etcdctlJson(["get", key])) as { kvs?: { value: string; lease?: string }[] };
  const kv = parsed.kvs?.[0];
  if (kv === undefined) throw new Error(`${key} is not in the store`);
  return { value: JSON.parse(Buffer.from(kv.value, "base64").toString("utf8")), lease: kv.lease ?? "0" };
}

/** Reads a watch stream until `count` lines arrived (or the timeout). */
async function watchLines(url: string, count: number, start: () => Promise<void>, timeoutMs = 10_000): Promise<any[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const res = await fetch(url, { signal: controller.signal });
  const reader = res.body!.getReader();
  const lines: any[] = [];
  let buffered = "";
  await start();
  try {
    while (lines.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += Buffer.from(value).toString("utf8");
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        lines.push(JSON.parse(buffered.slice(0, nl)));
        buffered = buffered.slice(nl + 1);
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return lines;
}

describe("events.k8s.io/v1 over the stored core/v1 Events (kubectl, 2 apiservers, ketch store)", () => {
  const cluster = useApiCluster("ketch", { members: 1, replicas: 2 });

  it("discovery lists events.k8s.io/v1 events with core's storage hash, and kubectl resolves the names", async () => {
    const c = cluster();
    const groups = await c.request("GET", "/apis");
    const group = groups.body.groups.find((g: any) => g.name === "events.k8s.io");
    expect(group).toEqual({ name: "events.k8s.io", versions: [{ groupVersion: "events.k8s.io/v1", version: "v1" }], preferredVersion: { groupVersion: "events.k8s.io/v1", version: "v1" } });
    const list = await c.request("GET", "/apis/events.k8s.io/v1");
    const v1 = list.body.resources.find((r: any) => r.name === "events");
    const core = (await c.request("GET", "/api/v1")).body.resources.find((r: any) => r.name === "events");
    expect(v1).toMatchObject({ name: "events", singularName: "event", namespaced: true, kind: "Event", shortNames: ["ev"] });
    expect(v1.verbs.sort()).toEqual(["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]);
    expect(v1.storageVersionHash).toBe(core.storageVersionHash);
    const resources = await c.kubectlOk(["api-resources", "--api-group=events.k8s.io", "--no-headers"]);
    expect(resources.trim().split(/\s+/)).toEqual(["events", "ev", "events.k8s.io/v1", "true", "Event"]);
  });

  it("a core/v1 Event reads through events.k8s.io/v1 with kube's field mapping, and the reverse", async () => {
    const c = cluster();
    await c.kubectlOk(["create", "-f", "-"], { input: coreEventYaml });
    const asV1 = JSON.parse(await c.kubectlOk(["get", "events.v1.events.k8s.io", "web.core1", "-o", "json"], { server: 1 }));
    expect(asV1).toMatchObject({
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name: "web.core1", namespace: "default" },
      regarding: { kind: "Pod", name: "web", namespace: "default", apiVersion: "v1" },
      reason: "Scheduled",
      note: "Successfully assigned default/web to node-1",
      deprecatedSource: { component: "default-scheduler" },
      deprecatedCount: 3,
      deprecatedFirstTimestamp: "2026-01-01T00:00:00Z",
      deprecatedLastTimestamp: "2026-01-01T00:05:00Z",
      reportingController: "default-scheduler",
      reportingInstance: "sched-a",
      type: "Normal",
      eventTime: null,
    });
    for (const coreName of ["message", "involvedObject", "source", "count", "firstTimestamp", "lastTimestamp", "reportingComponent"]) expect(asV1).not.toHaveProperty(coreName);

    await c.kubectlOk(["create", "-f", "-"], { input: v1EventYaml });
    const asCore = JSON.parse(await c.kubectlOk(["get", "events", "web.v1new", "-o", "json"], { server: 1 }));
    expect(asCore).toMatchObject({
      apiVersion: "v1",
      kind: "Event",
      involvedObject: { kind: "Pod", name: "web", namespace: "default", fieldPath: "spec.containers{c}" },
      message: 'Pulling image "nginx:1.20"',
      reportingComponent: "example.com/puller",
      reportingInstance: "puller-7",
      action: "Pulling",
      reason: "Pulling",
      eventTime: "2026-01-01T00:06:00.000000Z",
      type: "Normal",
    });
    expect(asCore).not.toHaveProperty("note");
    expect(asCore).not.toHaveProperty("regarding");
    // One key, the core form, with the event lease (kube's --event-ttl) whichever API wrote it.
    for (const name of ["web.core1", "web.v1new"]) {
      const kv = await stored(c, `/registry/events/default/${name}`);
      expect(kv.value.apiVersion, name).toBe("v1");
      expect(kv.value.involvedObject.name, name).toBe("web");
      expect(kv.lease, name).not.toBe("0");
    }
  });

  it("kubectl events -A, kubectl events --for pod/NAME and kubectl get events.v1.events.k8s.io -A show them", async () => {
    const c = cluster();
    await c.kubectlOk(["create", "-f", "-"], { input: otherEventYaml });
    const all = await c.kubectlOk(["events", "-A"]);
    expect(all.split("\n")[0]).toMatch(/^NAMESPACE\s+LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE/);
    expect(all).toMatch(/default\s+.*Normal\s+Scheduled\s+Pod\/web\s+Successfully assigned default\/web to node-1/);
    expect(all).toMatch(/kube-system\s+.*Warning\s+BackOff\s+Pod\/db\s+Back-off pulling image/);
    const forWeb = await c.kubectlOk(["events", "--for", "pod/web"], { server: 1 });
    expect(forWeb).toContain("Scheduled");
    expect(forWeb).toContain("Pulling");
    expect(forWeb).not.toContain("BackOff");
    const table = await c.kubectlOk(["get", "events.v1.events.k8s.io", "-A"]);
    expect(table.split("\n")[0]).toMatch(/^NAMESPACE\s+LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE/);
    expect(table).toMatch(/kube-system\s+.*Warning\s+BackOff\s+pod\/db\s+Back-off pulling image/);
    expect(table).toMatch(/default\s+.*Normal\s+Pulling\s+pod\/web\s+Pulling image "nginx:1.20"/);
    const yaml = await c.kubectlOk(["get", "events.events.k8s.io", "-n", "kube-system", "-o", "yaml"]);
    expect(yaml).toContain("apiVersion: events.k8s.io/v1");
    expect(yaml).toContain("note: Back-off pulling image");
  });

  it("field selectors take each version's labels (regarding.* / involvedObject.*)", async () => {
    const c = cluster();
    const names = (body: any): string[] => body.items.map((e: any) => e.metadata.name).sort();
    const v1 = await c.request("GET", "/apis/events.k8s.io/v1/events?fieldSelector=regarding.name%3Dweb,reportingController%3Dexample.com%2Fpuller");
    expect(v1.status).toBe(200);
    expect(names(v1.body)).toEqual(["web.v1new"]);
    expect(v1.body.items[0].note).toBe('Pulling image "nginx:1.20"');
    const core = await c.request("GET", "/api/v1/events?fieldSelector=involvedObject.name%3Dweb");
    expect(names(core.body)).toEqual(["web.core1", "web.v1new"]);
    const wrong = await c.request("GET", "/apis/events.k8s.io/v1/events?fieldSelector=involvedObject.name%3Dweb");
    expect({ status: wrong.status, message: wrong.body.message }).toEqual({ status: 400, message: "field label not supported: involvedObject.name" });
    const wrongCore = await c.request("GET", "/api/v1/events?fieldSelector=regarding.name%3Dweb");
    expect({ status: wrongCore.status, message: wrongCore.body.message }).toEqual({ status: 400, message: "field label not supported: regarding.name" });
  });

  it("watches of both versions on the same key each get their own form", async () => {
    const c = cluster();
    const rv = (await c.request("GET", "/api/v1/namespaces/default/events")).body.metadata.resourceVersion as string;
    const body = { apiVersion: "v1", kind: "Event", metadata: { name: "web.watched" }, involvedObject: { kind: "Pod", name: "web", namespace: "default" }, reason: "Started", message: "Started container c", type: "Normal", source: { component: "kubelet", host: "node-1" } };
    const [coreLines, v1Lines] = await Promise.all([
      watchLines(`${c.url(0)}/api/v1/namespaces/default/events?watch=1&resourceVersion=${rv}`, 1, async () => undefined),
      watchLines(`${c.url(0)}/apis/events.k8s.io/v1/namespaces/default/events?watch=1&resourceVersion=${rv}`, 1, async () => {
        await new Promise((r) => setTimeout(r, 300));
        const created = await c.request("POST", "/api/v1/namespaces/default/events", { server: 1, body });
        expect(created.status).toBe(201);
      }),
    ]);
    expect(coreLines[0]).toMatchObject({ type: "ADDED", object: { apiVersion: "v1", message: "Started container c", source: { component: "kubelet", host: "node-1" } } });
    expect(v1Lines[0]).toMatchObject({ type: "ADDED", object: { apiVersion: "events.k8s.io/v1", note: "Started container c", deprecatedSource: { component: "kubelet", host: "node-1" }, regarding: { name: "web" } } });
  });

  it("updates, patches and deletes through events.k8s.io/v1 act on the core object", async () => {
    const c = cluster();
    const patched = await c.request("PATCH", "/apis/events.k8s.io/v1/namespaces/default/events/web.v1new", {
      contentType: "application/merge-patch+json",
      body: { series: { count: 2, lastObservedTime: "2026-01-01T00:08:00.000000Z" } },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ apiVersion: "events.k8s.io/v1", series: { count: 2 }, note: 'Pulling image "nginx:1.20"' });
    const core = await c.request("GET", "/api/v1/namespaces/default/events/web.v1new", { server: 1 });
    expect(core.body.series).toEqual({ count: 2, lastObservedTime: "2026-01-01T00:08:00.000000Z" });
    expect(int(core.body.metadata.resourceVersion)).toBe(int(patched.body.metadata.resourceVersion));
    // What identifies an occurrence is immutable through events.k8s.io/v1 (kube's ValidateEventUpdate).
    const renote = await c.request("PATCH", "/apis/events.k8s.io/v1/namespaces/default/events/web.v1new", { contentType: "application/merge-patch+json", body: { note: "changed" } });
    expect(renote.status).toBe(422);
    expect(renote.body.message).toContain("message: Invalid value");
    await c.kubectlOk(["delete", "events.events.k8s.io", "web.v1new"]);
    expect((await c.request("GET", "/api/v1/namespaces/default/events/web.v1new")).status).toBe(404);
  });

  it("creates through events.k8s.io/v1 get kube's stricter validation; core creates do not", async () => {
    const c = cluster();
    const bare = { apiVersion: "events.k8s.io/v1", kind: "Event", metadata: { name: "bad" }, regarding: { kind: "Pod", name: "web", namespace: "default" }, note: "x", deprecatedCount: 4 };
    const refused = await c.request("POST", "/apis/events.k8s.io/v1/namespaces/default/events", { body: bare });
    expect(refused.status).toBe(422);
    expect(refused.body.reason).toBe("Invalid");
    const fields = (refused.body.details.causes as { field: string }[]).map((x) => x.field).sort();
    expect(fields).toEqual(["count", "eventTime", "type"]);
    const coreOk = await c.request("POST", "/api/v1/namespaces/default/events", { body: { metadata: { name: "legacy" }, involvedObject: { kind: "Pod", name: "web", namespace: "default" }, message: "old style" } });
    expect(coreOk.status).toBe(201);
  });
});
