// The everyday kubectl workflow with every kubectl minor on this machine (google-cloud-sdk ships
// kubectl.1.27 … kubectl.1.33 next to its dispatcher), against 2 apiservers on etcd and on ketch:
// discovery (legacy and the aggregated-discovery fallback), OpenAPI v2/v3, Tables, patches, watch.

import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { parseImpls } from "../../integration/cluster.js";
import { useApiCluster, versionedKubectlDir } from "./apiserver-harness.js";

const IMPLS = parseImpls(process.env.KETCH_IMPLS ?? "etcd,ketch");

/** kubectl.1.27 … as found; the list must not be empty (the tests fail rather than skip). */
function versionedKubectls(): string[] {
  if (!existsSync(versionedKubectlDir)) throw new Error(`${versionedKubectlDir} is missing: the versioned kubectl binaries come with google-cloud-sdk`);
  const found = readdirSync(versionedKubectlDir)
    .filter((f) => /^kubectl\.1\.\d+$/.test(f))
    .sort((a, b) => Number(a.split(".")[2]) - Number(b.split(".")[2]));
  if (found.length === 0) throw new Error(`no kubectl.1.XX binaries in ${versionedKubectlDir}`);
  return found.map((f) => join(versionedKubectlDir, f));
}

const manifest = (n: string): string => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-${n}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web-${n}}
  template:
    metadata:
      labels: {app: web-${n}}
    spec:
      containers:
      - name: c
        image: nginx:1.20
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Pod
metadata:
  name: pod-${n}
spec:
  containers:
  - name: c
    image: busybox
`;

for (const impl of IMPLS) {
  describe(`every kubectl minor against ketch-apiserver on ${impl}`, () => {
    const cluster = useApiCluster(impl);

    for (const binary of versionedKubectls()) {
      const minor = binary.split(".").at(-1) as string;
      it(`kubectl 1.${minor}: apply, get, explain, scale, patch, get -w, delete`, async () => {
        const c = cluster();
        const opts = { binary };
        const version = await c.kubectlOk(["version", "-o", "json"], opts);
        expect(JSON.parse(version).clientVersion.minor).toBe(minor);
        const applied = await c.kubectlOk(["apply", "-f", "-"], { ...opts, input: manifest(minor) });
        expect(applied).toContain(`deployment.apps/web-${minor} created`);
        expect(await c.kubectlOk(["apply", "-f", "-"], { ...opts, input: manifest(minor), server: 1 })).toContain(`deployment.apps/web-${minor} unchanged`);
        const pods = await c.kubectlOk(["get", "pod", `pod-${minor}`], opts);
        expect(pods.split("\n")[0]).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
        const deploys = await c.kubectlOk(["get", "deploy", `web-${minor}`, "-o", "wide"], opts);
        expect(deploys.split("\n")[0]).toMatch(/^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR$/);
        expect(await c.kubectlOk(["explain", "deployment.spec.replicas"], opts)).toContain("replicas");
        expect(await c.kubectlOk(["scale", `deploy/web-${minor}`, "--replicas=3"], { ...opts, server: 1 })).toContain("scaled");
        const changed = manifest(minor).replace("nginx:1.20", "nginx:1.21").replace("        - containerPort: 80\n", "        - containerPort: 80\n        - containerPort: 443\n");
        expect(await c.kubectlOk(["apply", "-f", "-"], { ...opts, input: changed })).toContain("configured");
        const d = JSON.parse(await c.kubectlOk(["get", "deploy", `web-${minor}`, "-o", "json"], opts));
        expect(d.spec.template.spec.containers[0].ports.map((p: { containerPort: number }) => p.containerPort)).toEqual([80, 443]);
        expect(d.spec.template.spec.containers[0].image).toBe("nginx:1.21");
        const watch = c.spawnKubectl(["get", "deploy", `web-${minor}`, "-w", "-o", "jsonpath={.spec.replicas}{\"\\n\"}"], { ...opts, server: 1 });
        try {
          await watch.waitFor("the current replicas", (out) => out.includes("1\n") || out.includes("3\n"));
          await c.kubectlOk(["patch", "deploy", `web-${minor}`, "--type", "merge", "-p", '{"spec":{"replicas":4}}'], opts);
          await watch.waitFor("the patched replicas", (out) => out.includes("4\n"));
        } finally {
          await watch.stop();
        }
        expect(await c.kubectlOk(["delete", "-f", "-", "--wait"], { ...opts, input: manifest(minor) })).toContain(`deployment.apps "web-${minor}" deleted`);
        expect((await c.kubectl(["get", "deploy", `web-${minor}`], opts)).stderr).toContain("NotFound");
      });
    }
  });
}
