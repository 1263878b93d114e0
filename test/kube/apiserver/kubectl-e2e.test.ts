// ketch-apiserver driven by the real kubectl: 2 apiserver replicas on one real 3-member store,
// run against real etcd 3.4 AND ketch (KETCH_IMPLS, default both). Every workflow is checked by
// its visible outcome: kubectl's output, the other replica's view, and the keys in the store
// (real etcdctl).

import { describe, expect, it } from "vitest";

import { parseImpls, int, sleep } from "../../integration/cluster.js";
import { useApiCluster, type ApiCluster } from "./apiserver-harness.js";

const IMPLS = parseImpls(process.env.KETCH_IMPLS ?? "etcd,ketch");

const appYaml = `apiVersion: v1
kind: ConfigMap
metadata:
  name: demo
data:
  greeting: hello
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: nginx:1.20
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
---
apiVersion: v1
kind: Pod
metadata:
  name: solo
  labels: {app: solo, tier: cache}
spec:
  containers:
  - name: c
    image: redis:7
`;

function headerOf(table: string): string[] {
  const first = table.split("\n")[0] ?? "";
  return first.trim().split(/\s{2,}/);
}

function rowOf(table: string, name: string): string[] {
  const line = table.split("\n").find((l) => l.split(/\s+/).includes(name) || l.split(/\s+/).some((w) => w.endsWith(`/${name}`)));
  if (line === undefined) throw new Error(`no row for ${name} in:\n${table}`);
  return line.trim().split(/\s{2,}/);
}

async function storedJson(c: ApiCluster, key: string): Promise<{ value: any; modRevision: number; lease: string }> {
  const parsed = (await c.store.etcdctlJson(["get", key])) as { kvs?: { value: string; mod_revision: string; lease?: string }[] };
  const kv = parsed.kvs?.[0];
  if (kv === undefined) throw new Error(`key ${key} not in the store`);
  return { value: JSON.parse(Buffer.from(kv.value, "base64").toString("utf8")), modRevision: int(kv.mod_revision), lease: kv.lease ?? "0" };
}

async function storedKeys(c: ApiCluster, prefix: string): Promise<string[]> {
  const res = await c.store.etcdctl(["get", prefix, "--prefix", "--keys-only"]);
  if (res.code !== 0) throw new Error(res.stderr);
  return res.stdout.split("\n").filter((l) => l !== "");
}

for (const impl of IMPLS) {
  describe(`kubectl against 2 ketch-apiservers on ${impl}`, () => {
    const cluster = useApiCluster(impl);

    it("apply -f of multi-document YAML creates every object under kube-apiserver's keys; a second apply is a no-op", async () => {
      const c = cluster();
      const out = await c.kubectlOk(["apply", "-f", "-"], { input: appYaml });
      expect(out).toContain("configmap/demo created");
      expect(out).toContain("deployment.apps/web created");
      expect(out).toContain("service/web created");
      expect(out).toContain("pod/solo created");
      const keys = await storedKeys(c, "/registry/");
      for (const key of ["/registry/configmaps/default/demo", "/registry/deployments/default/web", "/registry/services/specs/default/web", "/registry/pods/default/solo", "/registry/namespaces/default", "/registry/namespaces/kube-node-lease", "/registry/ranges/serviceips"]) {
        expect(keys).toContain(key);
      }
      const pod = await storedJson(c, "/registry/pods/default/solo");
      expect(pod.value.kind).toBe("Pod");
      expect(pod.value.metadata.resourceVersion).toBeUndefined();
      // resourceVersion is the key's mod revision.
      const got = JSON.parse(await c.kubectlOk(["get", "pod", "solo", "-o", "json"], { server: 1 }));
      expect(got.metadata.resourceVersion).toBe(String(pod.modRevision));
      expect(got.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(got.spec.containers[0].imagePullPolicy).toBe("IfNotPresent");
      expect(got.status.phase).toBe("Pending");
      const again = await c.kubectlOk(["apply", "-f", "-"], { input: appYaml, server: 1 });
      expect(again).toContain("configmap/demo unchanged");
      expect(again).toContain("deployment.apps/web unchanged");
      expect(again).toContain("pod/solo unchanged");
    });

    it("get shows kube's columns (default, -o wide), -o json/yaml, -l selectors and -A", async () => {
      const c = cluster();
      const pods = await c.kubectlOk(["get", "pods"]);
      expect(headerOf(pods)).toEqual(["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
      expect(rowOf(pods, "solo").slice(0, 4)).toEqual(["solo", "0/1", "Pending", "0"]);
      const wide = await c.kubectlOk(["get", "pods", "-o", "wide"]);
      expect(headerOf(wide)).toEqual(["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]);
      const deploys = await c.kubectlOk(["get", "deploy"]);
      expect(headerOf(deploys)).toEqual(["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
      expect(rowOf(deploys, "web").slice(0, 4)).toEqual(["web", "0/2", "0", "0"]);
      const svcs = await c.kubectlOk(["get", "svc"]);
      expect(headerOf(svcs)).toEqual(["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]);
      const web = rowOf(svcs, "web");
      expect(web[1]).toBe("ClusterIP");
      expect(web[2]).toMatch(/^10\.(9[6-9]|1[01][0-9])\.\d+\.\d+$/);
      expect(web[4]).toBe("80/TCP");
      expect(rowOf(svcs, "kubernetes")[2]).toBe("10.96.0.1");
      const cms = await c.kubectlOk(["get", "cm", "demo"]);
      expect(headerOf(cms)).toEqual(["NAME", "DATA", "AGE"]);
      expect(rowOf(cms, "demo")[1]).toBe("1");

      const yaml = await c.kubectlOk(["get", "cm", "demo", "-o", "yaml"]);
      expect(yaml).toContain("greeting: hello");
      expect(yaml).toMatch(/resourceVersion: "\d+"/);
      const list = JSON.parse(await c.kubectlOk(["get", "pods", "-o", "json"]));
      expect(list.kind).toBe("List");
      expect(list.items.map((p: any) => p.metadata.name)).toContain("solo");

      const byLabel = await c.kubectlOk(["get", "pods", "-l", "tier in (cache,db),app!=web", "-o", "name"]);
      expect(byLabel.trim()).toBe("pod/solo");
      const none = await c.kubectlOk(["get", "pods", "-l", "tier=frontend", "-o", "name"]);
      expect(none.trim()).toBe("");
      const all = await c.kubectlOk(["get", "ns", "-A"]);
      for (const ns of ["default", "kube-system", "kube-public", "kube-node-lease"]) expect(all).toContain(ns);
      const allSvc = await c.kubectlOk(["get", "svc", "-A"]);
      expect(headerOf(allSvc)[0]).toBe("NAMESPACE");
      expect(rowOf(allSvc, "kubernetes")[0]).toBe("default");
      const everything = await c.kubectlOk(["get", "all"]);
      expect(everything).toContain("pod/solo");
      expect(everything).toContain("service/web");
      expect(everything).toContain("deployment.apps/web");
    });

    it("a write through one apiserver is visible through the other at once", async () => {
      const c = cluster();
      await c.kubectlOk(["create", "configmap", "cross", "--from-literal=k=v1"], { server: 1 });
      const seen = JSON.parse(await c.kubectlOk(["get", "cm", "cross", "-o", "json"], { server: 0 }));
      expect(seen.data).toEqual({ k: "v1" });
      await c.kubectlOk(["patch", "cm", "cross", "-p", '{"data":{"k":"v2"}}'], { server: 0 });
      const again = JSON.parse(await c.kubectlOk(["get", "cm", "cross", "-o", "json"], { server: 1 }));
      expect(again.data).toEqual({ k: "v2" });
      expect(Number(again.metadata.resourceVersion)).toBeGreaterThan(Number(seen.metadata.resourceVersion));
    });

    it("describe shows pods, deployments and services", async () => {
      const c = cluster();
      const pod = await c.kubectlOk(["describe", "pod", "solo"]);
      expect(pod).toMatch(/Name:\s+solo/);
      expect(pod).toMatch(/Status:\s+Pending/);
      expect(pod).toMatch(/QoS Class:\s+BestEffort/);
      const deploy = await c.kubectlOk(["describe", "deployment", "web"]);
      expect(deploy).toMatch(/Replicas:\s+2 desired/);
      expect(deploy).toMatch(/StrategyType:\s+RollingUpdate/);
      expect(deploy).toMatch(/Port:\s+80\/TCP/);
      const svc = await c.kubectlOk(["describe", "svc", "web"]);
      expect(svc).toMatch(/IP:\s+10\./);
      expect(svc).toMatch(/Port:\s+<unset>\s+80\/TCP/);
    });

    it("label, annotate and scale; generation counts spec changes only", async () => {
      const c = cluster();
      const before = JSON.parse(await c.kubectlOk(["get", "deploy", "web", "-o", "json"]));
      await c.kubectlOk(["label", "deploy", "web", "team=blue"], { server: 1 });
      await c.kubectlOk(["annotate", "deploy", "web", "owner=ops"]);
      const labeled = JSON.parse(await c.kubectlOk(["get", "deploy", "web", "-o", "json"], { server: 1 }));
      expect(labeled.metadata.labels.team).toBe("blue");
      expect(labeled.metadata.annotations.owner).toBe("ops");
      expect(labeled.metadata.generation).toBe(before.metadata.generation);
      const scaled = await c.kubectlOk(["scale", "deploy/web", "--replicas=5"], { server: 1 });
      expect(scaled).toContain("deployment.apps/web scaled");
      const after = JSON.parse(await c.kubectlOk(["get", "deploy", "web", "-o", "json"]));
      expect(after.spec.replicas).toBe(5);
      expect(after.metadata.generation).toBe(before.metadata.generation + 1);
      const scale = await c.request("GET", "/apis/apps/v1/namespaces/default/deployments/web/scale");
      expect(scale.body).toMatchObject({ kind: "Scale", apiVersion: "autoscaling/v1", spec: { replicas: 5 }, status: { selector: "app=web" } });
      // A Scale with a stale resourceVersion is a precondition on the deployment's: 409.
      const stale = await c.request("PUT", "/apis/apps/v1/namespaces/default/deployments/web/scale", {
        server: 1,
        body: { ...scale.body, metadata: { ...scale.body.metadata, resourceVersion: before.metadata.resourceVersion }, spec: { replicas: 3 } },
      });
      expect(stale.status).toBe(409);
      expect(stale.body.reason).toBe("Conflict");
      expect(stale.body.message).toBe('Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again');
    });

    it("patch: strategic merge keeps port 80 ($setElementOrder), merge patch and JSON patch (rollout undo's shape)", async () => {
      const c = cluster();
      // The body kubectl apply sends for a changed image plus an added port (REFERENCE.md C1).
      const smp = '{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"c"}],"containers":[{"$setElementOrder/ports":[{"containerPort":80},{"containerPort":443}],"image":"nginx:1.21","name":"c","ports":[{"containerPort":443}]}]}}}}';
      await c.kubectlOk(["patch", "deploy", "web", "--type", "strategic", "-p", smp]);
      const d1 = JSON.parse(await c.kubectlOk(["get", "deploy", "web", "-o", "json"], { server: 1 }));
      expect(d1.spec.template.spec.containers[0].image).toBe("nginx:1.21");
      expect(d1.spec.template.spec.containers[0].ports.map((p: any) => p.containerPort)).toEqual([80, 443]);
      expect(d1.spec.template.spec.containers[0].ports.every((p: any) => p.protocol === "TCP")).toBe(true);
      await c.kubectlOk(["patch", "deploy", "web", "--type", "merge", "-p", '{"spec":{"minReadySeconds":7}}'], { server: 1 });
      const template = { ...d1.spec.template, spec: { ...d1.spec.template.spec, containers: [{ ...d1.spec.template.spec.containers[0], image: "nginx:1.20" }] } };
      const jsonPatch = JSON.stringify([
        { op: "replace", path: "/spec/template", value: template },
        { op: "replace", path: "/metadata/annotations", value: { ...d1.metadata.annotations, "deployment.kubernetes.io/revision": "3" } },
      ]);
      await c.kubectlOk(["patch", "deploy", "web", "--type", "json", "-p", jsonPatch]);
      const d2 = JSON.parse(await c.kubectlOk(["get", "deploy", "web", "-o", "json"]));
      expect(d2.spec.minReadySeconds).toBe(7);
      expect(d2.spec.template.spec.containers[0].image).toBe("nginx:1.20");
      expect(d2.metadata.annotations["deployment.kubernetes.io/revision"]).toBe("3");
      const bad = await c.kubectl(["patch", "deploy", "web", "--type", "json", "-p", '[{"op":"test","path":"/spec/replicas","value":99}]']);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain("testing value /spec/replicas failed");
    });

    it("apply of a changed manifest updates in place and keeps list entries by merge key", async () => {
      const c = cluster();
      const changed = appYaml.replace("image: nginx:1.20", "image: nginx:1.22").replace("        - containerPort: 80\n", "        - containerPort: 80\n        - containerPort: 8443\n");
      const out = await c.kubectlOk(["apply", "-f", "-"], { input: changed, server: 1 });
      expect(out).toContain("deployment.apps/web configured");
      expect(out).toContain("configmap/demo unchanged");
      const d = JSON.parse(await c.kubectlOk(["get", "deploy", "web", "-o", "json"]));
      expect(d.spec.template.spec.containers[0].image).toBe("nginx:1.22");
      // 443 came from a kubectl patch, not from an earlier apply, so apply leaves it (kube does too):
      // the ports kubectl ordered come first, then the others.
      expect(d.spec.template.spec.containers[0].ports.map((p: any) => p.containerPort)).toEqual([80, 8443, 443]);
    });

    it("replace with a stale resourceVersion is a 409 Conflict; a fresh edit-style replace works", async () => {
      const c = cluster();
      const stale = JSON.parse(await c.kubectlOk(["get", "cm", "demo", "-o", "json"]));
      await c.kubectlOk(["patch", "cm", "demo", "-p", '{"data":{"greeting":"changed elsewhere"}}'], { server: 1 });
      stale.data.greeting = "my edit";
      const conflict = await c.kubectl(["replace", "-f", "-"], { input: JSON.stringify(stale) });
      expect(conflict.code).not.toBe(0);
      expect(conflict.stderr).toContain('Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on configmaps "demo": the object has been modified; please apply your changes to the latest version and try again');
      const fresh = JSON.parse(await c.kubectlOk(["get", "cm", "demo", "-o", "json"]));
      fresh.data.greeting = "my edit";
      expect(await c.kubectlOk(["replace", "-f", "-"], { input: JSON.stringify(fresh), server: 1 })).toContain("configmap/demo replaced");
      const after = JSON.parse(await c.kubectlOk(["get", "cm", "demo", "-o", "json"]));
      expect(after.data.greeting).toBe("my edit");
      // kubectl edit, with an "editor" that rewrites the file in place.
      const edited = await c.kubectl(["edit", "cm", "demo"], { env: { KUBE_EDITOR: "sed -i s/my.edit/edited/", EDITOR: "" } });
      expect(edited.code, edited.stderr).toBe(0);
      expect(JSON.parse(await c.kubectlOk(["get", "cm", "demo", "-o", "json"], { server: 1 })).data.greeting).toBe("edited");
    });

    it("errors come back as Status: 404 NotFound, 409 AlreadyExists, 422 Invalid with causes", async () => {
      const c = cluster();
      const missing = await c.kubectl(["get", "pod", "nope"]);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain('Error from server (NotFound): pods "nope" not found');
      const dup = await c.kubectl(["create", "configmap", "demo"]);
      expect(dup.stderr).toContain('configmaps "demo" already exists');
      const dupStatus = await c.request("POST", "/api/v1/namespaces/default/configmaps", { body: { metadata: { name: "demo" } } });
      expect(dupStatus.status).toBe(409);
      expect(dupStatus.body).toEqual({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: 'configmaps "demo" already exists', reason: "AlreadyExists", details: { name: "demo", kind: "configmaps" }, code: 409 });
      const invalid = await c.kubectl(["create", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name: "Bad_Name" }, spec: { containers: [{ name: "c" }] } }) });
      expect(invalid.code).not.toBe(0);
      expect(invalid.stderr).toContain('The Pod "Bad_Name" is invalid');
      expect(invalid.stderr).toContain('metadata.name: Invalid value: "Bad_Name"');
      expect(invalid.stderr).toContain("spec.containers[0].image: Required value");
      const status = await c.request("POST", "/api/v1/namespaces/default/pods", { body: { apiVersion: "v1", kind: "Pod", metadata: { name: "Bad_Name" }, spec: { containers: [{ name: "c" }] } } });
      expect(status.status).toBe(422);
      expect(status.body.kind).toBe("Status");
      expect(status.body.reason).toBe("Invalid");
      expect(status.body.details.causes).toEqual(expect.arrayContaining([expect.objectContaining({ reason: "FieldValueRequired", field: "spec.containers[0].image" })]));
    });

    it("get -w on one replica sees a change made through the other", async () => {
      const c = cluster();
      await c.kubectlOk(["create", "configmap", "watched", "--from-literal=v=0"]);
      const watch = c.spawnKubectl(["get", "cm", "watched", "-w", "-o", "jsonpath={.data.v}{\"\\n\"}"], { server: 0 });
      try {
        await watch.waitFor("initial state", (out) => out.includes("0\n"));
        await c.kubectlOk(["patch", "cm", "watched", "-p", '{"data":{"v":"1"}}'], { server: 1 });
        await watch.waitFor("the update from replica 1", (out) => out.includes("1\n"));
        await c.kubectlOk(["patch", "cm", "watched", "-p", '{"data":{"v":"2"}}'], { server: 1 });
        await watch.waitFor("the second update", (out) => out.includes("2\n"));
        expect(watch.stdout.split("\n").filter((l) => l !== "")).toEqual(["0", "1", "2"]);
      } finally {
        await watch.stop();
      }
      // The table form of a watch: a header once, then rows.
      const table = c.spawnKubectl(["get", "pods", "-w"], { server: 1 });
      try {
        await table.waitFor("the pod row", (out) => out.includes("solo"));
        await c.kubectlOk(["label", "pod", "solo", "watch=me"], { server: 0 });
        await table.waitFor("a second row", (out) => out.split("\n").filter((l) => l.startsWith("solo")).length >= 2);
        expect(table.stdout.split("\n").filter((l) => l.startsWith("NAME")).length).toBe(1);
      } finally {
        await table.stop();
      }
    });

    it("delete waits for the object to be gone; a scheduled pod is deleted gracefully", async () => {
      const c = cluster();
      await c.kubectlOk(["create", "configmap", "doomed"]);
      expect(await c.kubectlOk(["delete", "cm", "doomed", "--wait"])).toContain('configmap "doomed" deleted');
      expect((await c.kubectl(["get", "cm", "doomed"])).stderr).toContain("NotFound");
      expect(await storedKeys(c, "/registry/configmaps/default/doomed")).toEqual([]);
      // A pod bound to a node keeps running until its kubelet confirms: deletionTimestamp + grace.
      await c.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name: "bound" }, spec: { nodeName: "node-a", terminationGracePeriodSeconds: 20, containers: [{ name: "c", image: "busybox" }] } }) });
      expect(await c.kubectlOk(["delete", "pod", "bound", "--wait=false"])).toContain('pod "bound" deleted');
      const terminating = JSON.parse(await c.kubectlOk(["get", "pod", "bound", "-o", "json"], { server: 1 }));
      expect(terminating.metadata.deletionTimestamp).toBeDefined();
      expect(terminating.metadata.deletionGracePeriodSeconds).toBe(20);
      expect(await c.kubectlOk(["get", "pod", "bound"])).toMatch(/bound\s+0\/1\s+Terminating/);
      // What the kubelet does when the containers are gone: delete with grace 0.
      const del = await c.kubectl(["delete", "pod", "bound", "--grace-period=0", "--force"], { server: 1 });
      expect(del.code, del.stderr).toBe(0);
      expect((await c.kubectl(["get", "pod", "bound"])).stderr).toContain("NotFound");
    });

    it("namespaces: create, list, content is removed with the namespace, no creates while it terminates", async () => {
      const c = cluster();
      expect(await c.kubectlOk(["create", "namespace", "team-a"])).toContain("namespace/team-a created");
      expect(rowOf(await c.kubectlOk(["get", "ns"]), "team-a")[1]).toBe("Active");
      await c.kubectlOk(["-n", "team-a", "create", "configmap", "one"], { server: 1 });
      await c.kubectlOk(["-n", "team-a", "apply", "-f", "-"], { input: appYaml.replace(/name: solo/, "name: solo2") });
      // A finalizer the test holds keeps the namespace terminating long enough to look at it.
      await c.kubectlOk(["-n", "team-a", "patch", "cm", "one", "-p", '{"metadata":{"finalizers":["example.com/hold"]}}']);
      await c.kubectlOk(["delete", "ns", "team-a", "--wait=false"]);
      const ns = JSON.parse(await c.kubectlOk(["get", "ns", "team-a", "-o", "json"], { server: 1 }));
      expect(ns.status.phase).toBe("Terminating");
      const refused = await c.kubectl(["-n", "team-a", "create", "configmap", "late"], { server: 1 });
      expect(refused.stderr).toContain('configmaps "late" is forbidden: unable to create new content in namespace team-a because it is being terminated');
      const missingNs = await c.kubectl(["-n", "no-such-ns", "create", "configmap", "x"]);
      expect(missingNs.stderr).toContain('namespaces "no-such-ns" not found');
      // Everything else in it goes; then the held object once its finalizer is removed; then the namespace.
      const deadline = Date.now() + 30_000;
      while ((await storedKeys(c, "/registry/pods/team-a/")).length > 0 || (await storedKeys(c, "/registry/deployments/team-a/")).length > 0) {
        if (Date.now() > deadline) throw new Error("namespace content not removed");
        await sleep(300);
      }
      await c.kubectlOk(["-n", "team-a", "patch", "cm", "one", "--type", "json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]']);
      await c.kubectlOk(["wait", "--for=delete", "ns/team-a", "--timeout=60s"]);
      expect((await c.kubectl(["get", "ns", "team-a"], { server: 1 })).stderr).toContain("NotFound");
      expect(await storedKeys(c, "/registry/configmaps/team-a/")).toEqual([]);
      const forbidden = await c.kubectl(["delete", "ns", "kube-system"]);
      expect(forbidden.stderr).toContain('Error from server (Forbidden): namespaces "kube-system" is forbidden: this namespace may not be deleted');
    });

    it("cluster IPs and node ports stay unique under concurrent creates on both replicas", async () => {
      const c = cluster();
      const count = 24;
      const results = await Promise.all(
        Array.from({ length: count }, (_unused, i) =>
          c.request("POST", "/api/v1/namespaces/default/services", {
            server: i % 2,
            body: { apiVersion: "v1", kind: "Service", metadata: { name: `svc-${i}` }, spec: { type: i % 3 === 0 ? "NodePort" : "ClusterIP", selector: { app: "x" }, ports: [{ port: 80 }] } },
          }),
        ),
      );
      for (const r of results) expect(r.status, r.text).toBe(201);
      const ips = results.map((r) => r.body.spec.clusterIP as string);
      expect(new Set(ips).size).toBe(count);
      const nodePorts = results.filter((r) => r.body.spec.type === "NodePort").map((r) => r.body.spec.ports[0].nodePort as number);
      expect(new Set(nodePorts).size).toBe(nodePorts.length);
      for (const p of nodePorts) expect(p >= 30000 && p <= 32767).toBe(true);
      // The shown IPs are the stored ones, and a requested IP that is taken is refused (422).
      const svcs = await c.kubectlOk(["get", "svc", "svc-3", "-o", "wide"], { server: 1 });
      expect(rowOf(svcs, "svc-3")[2]).toBe(ips[3]);
      const taken = await c.kubectl(["create", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "Service", metadata: { name: "clash" }, spec: { clusterIP: ips[0], ports: [{ port: 80 }] } }) });
      expect(taken.stderr).toContain(`provided IP is already allocated`);
      // Deleting releases: the IP can be requested again.
      await c.kubectlOk(["delete", "svc", "svc-0"], { server: 1 });
      const reuse = await c.kubectl(["create", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "Service", metadata: { name: "reuse" }, spec: { clusterIP: ips[0], ports: [{ port: 80 }] } }) });
      expect(reuse.code, reuse.stderr).toBe(0);
    });

    it("api-resources lists kinds, short names and groups; create namespace and get ns", async () => {
      const c = cluster();
      const out = await c.kubectlOk(["api-resources"]);
      expect(out).toMatch(/pods\s+po\s+v1\s+true\s+Pod/);
      expect(out).toMatch(/deployments\s+deploy\s+apps\/v1\s+true\s+Deployment/);
      expect(out).toMatch(/services\s+svc\s+v1\s+true\s+Service/);
      expect(out).toMatch(/namespaces\s+ns\s+v1\s+false\s+Namespace/);
      expect(out).toMatch(/leases\s+coordination\.k8s\.io\/v1\s+true\s+Lease/);
      const byShort = await c.kubectlOk(["get", "po,cm,svc,deploy", "-o", "name"]);
      expect(byShort).toContain("pod/solo");
      expect(byShort).toContain("configmap/demo");
    });

    it("explain reads the served OpenAPI; client-side validation rejects unknown fields", async () => {
      const c = cluster();
      const spec = await c.kubectlOk(["explain", "pod.spec"], { server: 1 });
      expect(spec).toMatch(/KIND:\s+Pod/);
      expect(spec).toMatch(/FIELD:\s+spec <PodSpec>/);
      expect(spec).toContain("containers");
      const strategy = await c.kubectlOk(["explain", "deployment.spec.strategy"]);
      expect(strategy).toMatch(/GROUP:\s+apps/);
      const bogus = await c.kubectl(["apply", "-f", "-"], { input: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bogus\nbogus: 1\n" });
      expect(bogus.code).not.toBe(0);
      expect(bogus.stderr).toContain('unknown field "bogus"');
    });

    it("apply --server-side creates and updates (simplified: no field ownership)", async () => {
      const c = cluster();
      const manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: '1'\n";
      expect(await c.kubectlOk(["apply", "--server-side", "-f", "-"], { input: manifest })).toContain("configmap/ssa serverside-applied");
      expect(await c.kubectlOk(["apply", "--server-side", "-f", "-"], { input: manifest.replace("a: '1'", "a: '2'"), server: 1 })).toContain("configmap/ssa serverside-applied");
      const cm = JSON.parse(await c.kubectlOk(["get", "cm", "ssa", "-o", "json"]));
      expect(cm.data).toEqual({ a: "2" });
    });

    it("nodes: get columns, describe node (pods by spec.nodeName and status.phase, the node's Lease)", async () => {
      const c = cluster();
      const node = {
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: "node-e2e", labels: { "kubernetes.io/hostname": "node-e2e" } },
        status: {
          capacity: { cpu: "4", memory: "8Gi", pods: "110" },
          allocatable: { cpu: "4", memory: "8Gi", pods: "110" },
          conditions: [{ type: "Ready", status: "True", reason: "KubeletReady", message: "ready", lastHeartbeatTime: new Date().toISOString().slice(0, 19) + "Z", lastTransitionTime: new Date().toISOString().slice(0, 19) + "Z" }],
          nodeInfo: { kubeletVersion: "v1.31.0", kubeProxyVersion: "", osImage: "ketch", kernelVersion: "6", containerRuntimeVersion: "sim://1", operatingSystem: "linux", architecture: "amd64", machineID: "", systemUUID: "", bootID: "" },
        },
      };
      await c.kubectlOk(["create", "-f", "-"], { input: JSON.stringify(node) });
      await c.kubectlOk(["create", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name: "on-node" }, spec: { nodeName: "node-e2e", containers: [{ name: "c", image: "nginx", resources: { requests: { cpu: "250m", memory: "64Mi" } } }] } }), server: 1 });
      await c.request("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-e2e", { body: { metadata: { name: "node-e2e" }, spec: { holderIdentity: "node-e2e", leaseDurationSeconds: 40, renewTime: "2024-01-01T00:00:00.000000Z" } } });
      const nodes = await c.kubectlOk(["get", "nodes"]);
      expect(headerOf(nodes)).toEqual(["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
      expect(rowOf(nodes, "node-e2e")[1]).toBe("Ready");
      const described = await c.kubectlOk(["describe", "node", "node-e2e"], { server: 1 });
      expect(described).toMatch(/Name:\s+node-e2e/);
      expect(described).toMatch(/HolderIdentity:\s+node-e2e/);
      expect(described).toMatch(/Non-terminated Pods:\s+\(1 in total\)/);
      expect(described).toMatch(/default\s+on-node\s+250m/);
      const wide = await c.kubectlOk(["get", "pods", "--field-selector", "spec.nodeName=node-e2e", "-o", "wide"]);
      expect(rowOf(wide, "on-node")[6]).toBe("node-e2e");
    });

    it("kill -9 of the store member the apiservers talk to: writes go on and a running get -w keeps receiving", async () => {
      const c = cluster();
      await c.kubectlOk(["create", "configmap", "failover", "--from-literal=v=before"]);
      const watch = c.spawnKubectl(["get", "cm", "failover", "-w", "-o", "jsonpath={.data.v}{\"\\n\"}"], { server: 0 });
      try {
        await watch.waitFor("the initial value", (out) => out.includes("before\n"));
        // Both apiservers list the members in the same order and start on the first one.
        const victim = c.store.members[0]!;
        await victim.kill();
        const deadline = Date.now() + 30_000;
        for (;;) {
          const res = await c.kubectl(["patch", "cm", "failover", "-p", '{"data":{"v":"after"}}'], { server: 1 });
          if (res.code === 0) break;
          if (Date.now() > deadline) throw new Error(`patch never succeeded after the member died: ${res.stderr}`);
          await sleep(500);
        }
        await watch.waitFor("the value written after the kill", (out) => out.includes("after\n"), 30_000);
        expect(JSON.parse(await c.kubectlOk(["get", "cm", "failover", "-o", "json"], { server: 0 })).data.v).toBe("after");
        await c.kubectlOk(["create", "configmap", "after-failover"], { server: 0 });
        await victim.start();
        await c.store.waitHealthy();
      } finally {
        await watch.stop();
      }
    });

    it("the stored values are JSON with kube's layout and the events of the store carry leases", async () => {
      const c = cluster();
      const pod = JSON.parse(await c.kubectlOk(["get", "pod", "solo", "-o", "json"]));
      const ev = await c.request("POST", "/api/v1/namespaces/default/events", {
        body: { apiVersion: "v1", kind: "Event", metadata: { name: "solo.1" }, involvedObject: { kind: "Pod", name: "solo", namespace: "default", uid: pod.metadata.uid }, reason: "Tested", message: "hello", type: "Normal", count: 1 },
      });
      expect(ev.status, ev.text).toBe(201);
      const stored = await storedJson(c, "/registry/events/default/solo.1");
      expect(stored.value.reason).toBe("Tested");
      expect(stored.lease).not.toBe("0");
      const describe = await c.kubectlOk(["describe", "pod", "solo"]);
      expect(describe).toMatch(/Normal\s+Tested\s+.*hello/);
      const json = (await c.store.etcdctlJson(["get", "/registry/services/specs/default/web"])) as { kvs: { value: string }[] };
      const svc = JSON.parse(Buffer.from(json.kvs[0]!.value, "base64").toString("utf8"));
      expect(svc.spec.clusterIP).toBe(svc.spec.clusterIPs[0]);
    });
  });
}
