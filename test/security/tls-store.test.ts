// TLS on the store, side by side: the same etcdctl (and ketchctl) commands against 3-member
// clusters of real etcd 3.4 and of ketch, both with https client and peer URLs, client
// certificates required on both (--client-cert-auth, --peer-client-cert-auth). Certificates come
// from src/tls/cert-authority.ts; a second CA makes the ones that must be refused.

import { spawn } from "node:child_process";
import { request as httpsRequest } from "node:https";
import { connect as http2Connect } from "node:http2";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { CertificateAuthority, writePemFiles } from "../../src/tls/cert-authority.js";
import { freePorts } from "../api/free-port.js";
import { etcdctlBinary, eventually, type Impl, Member, requirePrerequisites } from "../integration/cluster.js";
import { ketchctlEntry, removeKetchctlBundle, requireKetchctl, runTool, type Tool } from "../ctl/ctl-harness.js";

const host = "127.0.0.1";

interface Pki {
  dir: string;
  caFile: string;
  /** One server+client certificate per member (IP SAN 127.0.0.1), as ketch-cluster makes them. */
  member: (name: string) => { certFile: string; keyFile: string };
  client: { certFile: string; keyFile: string };
  /** Signed by another CA: must be refused. */
  strangerClient: { certFile: string; keyFile: string };
  strangerMember: { certFile: string; keyFile: string };
}

let pki: Pki;

beforeAll(async () => {
  requireKetchctl();
  const dir = await mkdtemp(join(tmpdir(), "ketch-tls-"));
  const ca = await CertificateAuthority.create({ commonName: "ketch-test-ca" });
  const stranger = await CertificateAuthority.create({ commonName: "another-ca" });
  const caFile = join(dir, "ca.crt");
  await writeFile(caFile, ca.certPem);
  const members = new Map<string, { certFile: string; keyFile: string }>();
  for (const name of ["m1", "m2", "m3", "m4"]) {
    members.set(name, await writePemFiles(dir, name, await ca.issue({ commonName: name, ipAddresses: [host], dnsNames: ["localhost"], usages: ["server", "client"] })));
  }
  pki = {
    dir,
    caFile,
    member: (name) => members.get(name) as { certFile: string; keyFile: string },
    client: await writePemFiles(dir, "client", await ca.issue({ commonName: "root", usages: ["client"] })),
    strangerClient: await writePemFiles(dir, "stranger-client", await stranger.issue({ commonName: "root", usages: ["client"] })),
    strangerMember: await writePemFiles(
      dir,
      "stranger-m4",
      await stranger.issue({ commonName: "m4", ipAddresses: [host], usages: ["server", "client"] }),
    ),
  };
}, 60_000);

afterAll(async () => {
  removeKetchctlBundle();
  if (pki !== undefined) await rm(pki.dir, { recursive: true, force: true });
});

/** etcdctl's TLS flags for a trusted client. */
const tlsArgs = (): string[] => ["--cacert", pki.caFile, "--cert", pki.client.certFile, "--key", pki.client.keyFile];
/** Refusals are reported after the command timeout. */
const quick = ["--dial-timeout", "1s", "--command-timeout", "2s"];

class TlsCluster {
  readonly members: Member[] = [];
  readonly clientUrls: string[] = [];
  readonly peerUrls: string[] = [];
  constructor(
    readonly impl: Impl,
    readonly rootDir: string,
  ) {}

  flags(name: string, clientUrl: string, peerUrl: string, initialCluster: string, state: "new" | "existing", peerCert: { certFile: string; keyFile: string }): string[] {
    const member = pki.member(name);
    return [
      "--name", name,
      "--data-dir", join(this.rootDir, name),
      "--listen-client-urls", clientUrl,
      "--advertise-client-urls", clientUrl,
      "--listen-peer-urls", peerUrl,
      "--initial-advertise-peer-urls", peerUrl,
      "--initial-cluster", initialCluster,
      "--initial-cluster-state", state,
      "--initial-cluster-token", `tls-${this.impl}`,
      "--cert-file", member.certFile,
      "--key-file", member.keyFile,
      "--client-cert-auth",
      "--trusted-ca-file", pki.caFile,
      "--peer-cert-file", peerCert.certFile,
      "--peer-key-file", peerCert.keyFile,
      "--peer-client-cert-auth",
      "--peer-trusted-ca-file", pki.caFile,
    ];
  }

  private destroyed = false;

  async destroy(failed: boolean): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all(this.members.map((m) => m.kill()));
    if (failed) {
      for (const m of this.members) console.error(`[tls] ${this.impl} ${m.name} log:\n${m.logTail(6000)}`);
    }
    await rm(this.rootDir, { recursive: true, force: true });
  }
}

/** onCreated gets the cluster before it is waited for, so an afterAll can stop it even if the hook times out. */
async function startTlsCluster(impl: Impl, onCreated: (cluster: TlsCluster) => void): Promise<TlsCluster> {
  requirePrerequisites(impl);
  const cluster = new TlsCluster(impl, await mkdtemp(join(tmpdir(), `ketch-tls-${impl}-`)));
  onCreated(cluster);
  const ports = await freePorts(6, host);
  const names = ["m1", "m2", "m3"];
  for (let i = 0; i < 3; i++) {
    cluster.clientUrls.push(`https://${host}:${ports[2 * i]}`);
    cluster.peerUrls.push(`https://${host}:${ports[2 * i + 1]}`);
  }
  const initialCluster = names.map((n, i) => `${n}=${cluster.peerUrls[i]}`).join(",");
  for (const [i, name] of names.entries()) {
    const flags = cluster.flags(name, cluster.clientUrls[i] as string, cluster.peerUrls[i] as string, initialCluster, "new", pki.member(name));
    cluster.members.push(new Member(impl, name, ports[2 * i] as number, ports[2 * i + 1] as number, join(cluster.rootDir, name), flags));
  }
  await Promise.all(cluster.members.map((m) => m.start()));
  try {
    await eventually(`${impl} TLS cluster healthy`, 60_000, async () => {
      const r = await runTool("etcdctl", cluster.clientUrls, [...tlsArgs(), ...quick, "endpoint", "health"]);
      return r.code === 0 ? true : undefined;
    });
  } catch (err) {
    await cluster.destroy(true);
    throw err;
  }
  return cluster;
}

/** GET over HTTPS (HTTP/1.1) with the trusted client certificate. */
async function httpsGet(url: string): Promise<{ status: number; body: string }> {
  const [ca, cert, key] = await Promise.all([readFile(pki.caFile), readFile(pki.client.certFile), readFile(pki.client.keyFile)]);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, cert, key, servername: "localhost" }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** GET over HTTP/2 on TLS (ALPN h2), as curl does by default. */
async function http2Get(origin: string, path: string): Promise<{ status: number; body: string }> {
  const [ca, cert, key] = await Promise.all([readFile(pki.caFile), readFile(pki.client.certFile), readFile(pki.client.keyFile)]);
  return new Promise((resolve, reject) => {
    const session = http2Connect(origin, { ca, cert, key, servername: "localhost" });
    session.on("error", reject);
    const req = session.request({ ":path": path });
    let status = 0;
    let body = "";
    req.setEncoding("utf8");
    req.on("response", (headers) => (status = Number(headers[":status"])));
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      session.close();
      resolve({ status, body });
    });
    req.on("error", reject);
    req.end();
  });
}

/** Runs a watch until its stdout ends with `until` (then stops it, as Ctrl-C would); its stdout. */
function watchUntil(tool: Tool, endpoints: string[], args: string[], until: string, timeoutMs = 30_000): Promise<string> {
  const toolArgs = ["--endpoints", endpoints.join(","), ...args];
  const [command, argv] = tool === "etcdctl" ? [etcdctlBinary, toolArgs] : [process.execPath, [ketchctlEntry(), ...toolArgs]];
  const env: NodeJS.ProcessEnv = { ETCDCTL_API: "3" };
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("ETCD")) env[k] = v;
  const child = spawn(command, argv, { stdio: ["ignore", "pipe", "pipe"], env });
  const watched = new Promise<string>((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${tool} watch printed ${JSON.stringify(out)} in ${timeoutMs} ms; stderr: ${err}`));
    }, timeoutMs);
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.endsWith(until)) {
        clearTimeout(timer);
        child.kill("SIGTERM");
        resolve(out);
      }
    });
    child.once("exit", () => {
      clearTimeout(timer);
      if (!out.endsWith(until)) reject(new Error(`${tool} watch exited; stdout ${JSON.stringify(out)}; stderr: ${err}`));
    });
  });
  // Awaited later by the test; until then a failure must not count as unhandled.
  watched.catch(() => undefined);
  return watched;
}

const refusedLine: Record<Impl, RegExp> = {
  etcd: /rejected connection from/,
  ketch: /rejected client connection/,
};

for (const impl of ["etcd", "ketch"] as const) {
  describe(`TLS on ${impl}`, () => {
    let cluster: TlsCluster | undefined;
    let failed = false;
    beforeAll(async () => {
      await startTlsCluster(impl, (started) => {
        cluster = started;
      });
    }, 120_000);
    afterAll(async () => {
      await cluster?.destroy(failed);
    }, 30_000);
    const c = (): TlsCluster => {
      if (cluster === undefined) throw new Error("cluster not started");
      return cluster;
    };

    for (const tool of ["etcdctl", "ketchctl"] as Tool[]) {
      it(`${tool}: put, get and watch over https with --cacert/--cert/--key`, async ({ onTestFailed }) => {
        onTestFailed(() => {
          failed = true;
        });
        const eps = c().clientUrls;
        const put = await runTool(tool, eps, [...tlsArgs(), "put", `/tls/${tool}`, "secret-value", "-w", "json"]);
        expect(put.code, put.stderr).toBe(0);
        const revision = Number(/"revision":(\d+)/.exec(put.stdout)?.[1]);
        // Watching from the next revision: the put below is seen however long the watch takes to start.
        const watch = watchUntil(tool, [eps[1] as string], [...tlsArgs(), "watch", `/tls/w-${tool}`, "--rev", String(revision + 1)], "seen\n");
        const get = await runTool(tool, [eps[2] as string], [...tlsArgs(), "get", `/tls/${tool}`]);
        expect(get, get.stderr).toMatchObject({ code: 0, stdout: `/tls/${tool}\nsecret-value\n` });
        // The same with ETCDCTL_* variables and endpoints without a scheme (TLS because a CA is given).
        const env = { ETCDCTL_CACERT: pki.caFile, ETCDCTL_CERT: pki.client.certFile, ETCDCTL_KEY: pki.client.keyFile };
        const bare = eps.map((u) => u.replace("https://", ""));
        const envGet = await runTool(tool, bare, ["get", `/tls/${tool}`, "--print-value-only"], { env });
        expect(envGet, envGet.stderr).toMatchObject({ code: 0, stdout: "secret-value\n" });
        const put2 = await runTool(tool, [eps[0] as string], [...tlsArgs(), "put", `/tls/w-${tool}`, "seen"]);
        expect(put2.code, put2.stderr).toBe(0);
        expect(await watch).toBe(`PUT\n/tls/w-${tool}\nseen\n`);
      });

      it(`${tool}: endpoint health over TLS, every member`, async () => {
        const r = await runTool(tool, c().clientUrls, [...tlsArgs(), "endpoint", "health"]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr.match(/is healthy: successfully committed proposal/g)).toHaveLength(3);
      });

      it(`${tool}: refused without a client certificate, and with one from another CA`, async () => {
        const ep = [c().clientUrls[0] as string];
        const stranger = ["--cert", pki.strangerClient.certFile, "--key", pki.strangerClient.keyFile];
        // In parallel: each refusal takes the command timeout.
        const [noCert, strangerCert, plain, untrusting] = await Promise.all([
          runTool(tool, ep, ["--cacert", pki.caFile, ...quick, "get", "/tls/x"]),
          runTool(tool, ep, ["--cacert", pki.caFile, ...stranger, ...quick, "get", "/tls/x"]),
          // Plain text to the TLS port.
          runTool(tool, [ep[0]!.replace("https://", "http://")], [...quick, "get", "/tls/x"]),
          // A client that does not trust the server's CA.
          runTool(tool, ep, ["--cacert", pki.strangerClient.certFile, "--cert", pki.client.certFile, "--key", pki.client.keyFile, ...quick, "get", "/tls/x"]),
        ]);
        for (const refused of [noCert, strangerCert, plain, untrusting]) {
          expect(refused.code, refused.stdout).toBe(1);
          expect(refused.stderr).toContain("Error: context deadline exceeded");
        }
      });
    }

    it("the member logs why it refused a client", async () => {
      const log = c().members[0]!.logTail(200_000);
      expect(log).toMatch(refusedLine[impl]);
      if (impl === "ketch") {
        expect(log).toMatch(/"reason":"no certificate was presented".*rejected client connection/);
        expect(log).toMatch(/"reason":"certificate signed by unknown authority[^"]*".*rejected client connection/);
      } else {
        expect(log).toMatch(/client didn't provide a certificate/);
        expect(log).toMatch(/certificate signed by unknown authority/);
      }
    });

    it("/health and /version over https on the client port, HTTP/1.1 and HTTP/2", async () => {
      const url = c().clientUrls[1] as string;
      const health = await httpsGet(`${url}/health`);
      expect(health).toEqual({ status: 200, body: expect.stringMatching(/"health":\s*"true"/) as unknown as string });
      const version = await httpsGet(`${url}/version`);
      expect(JSON.parse(version.body)).toMatchObject({ etcdserver: "3.4.23" });
      const h2 = await http2Get(url, "/health");
      expect(h2.status).toBe(200);
      expect(h2.body).toMatch(/"health":\s*"true"/);
    });

    it("a member whose peer certificate comes from another CA cannot join", async () => {
      const cl = c();
      const [clientPort, peerPort] = await freePorts(2, host);
      const clientUrl = `https://${host}:${clientPort}`;
      const peerUrl = `https://${host}:${peerPort}`;
      const added = await runTool("etcdctl", cl.clientUrls, [...tlsArgs(), "member", "add", "m4", `--peer-urls=${peerUrl}`, "-w", "json"]);
      expect(added.code, added.stderr).toBe(0);
      const id = BigInt(/"ID":(\d+)/.exec(added.stdout)?.[1] ?? "0").toString(16);
      const initialCluster = [...cl.members.map((m, i) => `${m.name}=${cl.peerUrls[i]}`), `m4=${peerUrl}`].join(",");
      const flags = cl.flags("m4", clientUrl, peerUrl, initialCluster, "existing", pki.strangerMember);
      const m4 = new Member(impl, "m4", clientPort as number, peerPort as number, join(cl.rootDir, "m4"), flags);
      cl.members.push(m4);
      try {
        await m4.start();
        // Either it gives up (it cannot learn the cluster from its peers) or it stays cut off; in
        // both cases the cluster never sees it started.
        const exit = await m4.waitExit(20_000).catch(() => undefined);
        if (exit !== undefined) expect(exit.code).not.toBe(0);
        const list = await runTool("etcdctl", cl.clientUrls.slice(0, 3), [...tlsArgs(), "member", "list"]);
        expect(list.code, list.stderr).toBe(0);
        expect(list.stdout).toMatch(new RegExp(`^${id}, unstarted, , ${peerUrl}`, "m"));
        // The members say why, in their own words.
        const logs = cl.members.slice(0, 3).map((m) => m.logTail(200_000)).join("\n");
        if (impl === "ketch") expect(logs).toMatch(/"reason":"certificate signed by unknown authority[^"]*".*rejected peer connection/);
        else expect(logs).toMatch(/rejected connection from .*certificate signed by unknown authority/);
      } finally {
        await m4.kill();
        cl.members.pop();
        await runTool("etcdctl", cl.clientUrls, [...tlsArgs(), "member", "remove", id]);
      }
    });
  });
}
