// ketch-apiserver's command line: defaults, parsing, one-line errors and the real process's exit
// codes for --help and bad flags.

import { spawnSync } from "node:child_process";

import { describe, expect, it } from "vitest";

import { FlagError, parseFlags, parseGoDuration, usage } from "../../../src/kube/apiserver/apiserver-flags.js";
import { apiserverEntry, requireApiserverBuild } from "./apiserver-harness.js";

describe("ketch-apiserver flags", () => {
  it("has the documented defaults", () => {
    const f = parseFlags(["--etcd-servers", "http://127.0.0.1:2379"]);
    if (f === "help") throw new Error("unexpected help");
    expect(f).toEqual({
      etcdServers: ["http://127.0.0.1:2379"],
      etcdPrefix: "/registry",
      bindAddress: "127.0.0.1",
      port: 8080,
      serviceClusterIpRange: "10.96.0.0/12",
      serviceNodePortRange: "30000-32767",
      compactionIntervalMs: 300_000,
      eventTtlSeconds: 3600,
      bookmarkIntervalMs: 60_000,
      watchCacheSize: 50_000,
      logLevel: "info",
      tlsCertFile: "",
      tlsPrivateKeyFile: "",
      securePort: 6443,
      clientCaFile: "",
      tokenAuthFile: "",
      anonymousAuth: true,
      authorizationModes: ["AlwaysAllow"],
      encryptionProviderConfig: "",
      etcdCaFile: "",
      etcdCertFile: "",
      etcdKeyFile: "",
    });
  });

  it("reads the security flags and refuses half-given pairs and unknown modes", () => {
    const base = ["--etcd-servers", "http://127.0.0.1:2379"];
    const f = parseFlags([...base, "--tls-cert-file", "s.crt", "--tls-private-key-file", "s.key", "--client-ca-file", "ca.crt", "--authorization-mode=Node,RBAC", "--anonymous-auth=false", "--secure-port", "0"]);
    if (f === "help") throw new Error("unexpected help");
    expect([f.tlsCertFile, f.tlsPrivateKeyFile, f.clientCaFile, f.authorizationModes, f.anonymousAuth, f.securePort]).toEqual(["s.crt", "s.key", "ca.crt", ["Node", "RBAC"], false, 0]);
    expect(() => parseFlags([...base, "--tls-cert-file", "s.crt"])).toThrow(/must be given together/);
    expect(() => parseFlags([...base, "--client-ca-file", "ca.crt"])).toThrow(/needs HTTPS/);
    expect(() => parseFlags([...base, "--authorization-mode", "ABAC"])).toThrow(/unknown authorization mode "ABAC"/);
    expect(() => parseFlags([...base, "--etcd-certfile", "c.crt"])).toThrow(/must be given together/);
  });

  it("reads --flag value and --flag=value, lists of servers, Go durations", () => {
    const f = parseFlags(["--etcd-servers=http://a:1, http://b:2", "--port=0", "--etcd-compaction-interval", "1m30s", "--event-ttl=0.5h", "--bind-address", "0.0.0.0"]);
    if (f === "help") throw new Error("unexpected help");
    expect(f.etcdServers).toEqual(["http://a:1", "http://b:2"]);
    expect([f.port, f.compactionIntervalMs, f.eventTtlSeconds, f.bindAddress]).toEqual([0, 90_000, 1800, "0.0.0.0"]);
    expect(parseGoDuration("0")).toBe(0);
    expect(parseGoDuration("250ms")).toBe(250);
    expect(() => parseGoDuration("5 minutes")).toThrow(FlagError);
  });

  it("rejects bad input with one-line reasons", () => {
    expect(() => parseFlags([])).toThrow("--etcd-servers must be specified");
    expect(() => parseFlags(["--etcd-servers", "x", "--nope", "1"])).toThrow("unknown flag: --nope");
    expect(() => parseFlags(["--etcd-servers", "x", "--port", "70000"])).toThrow("invalid --port");
    expect(() => parseFlags(["--etcd-servers", "x", "--service-cluster-ip-range", "10.0.0.0/33"])).toThrow("--service-cluster-ip-range");
    expect(() => parseFlags(["--etcd-servers", "x", "--service-node-port-range", "40000-30000"])).toThrow("--service-node-port-range");
    expect(() => parseFlags(["--etcd-servers", "x", "--etcd-prefix", "registry"])).toThrow('--etcd-prefix must start with "/"');
    expect(() => parseFlags(["--etcd-servers"])).toThrow("flag needs an argument: --etcd-servers");
    expect(parseFlags(["--help"])).toBe("help");
    expect(usage()).toContain("--service-node-port-range");
  });

  it("the program prints --help, and exits 2 with one line on bad flags", () => {
    requireApiserverBuild();
    const help = spawnSync(process.execPath, [apiserverEntry, "--help"], { encoding: "utf8" });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("usage: ketch-apiserver --etcd-servers");
    const bad = spawnSync(process.execPath, [apiserverEntry, "--etcd-servers", "http://127.0.0.1:1", "--port", "abc"], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe('ketch-apiserver: invalid --port "abc"');
  });
});
