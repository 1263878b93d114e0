// Loading certificate files: the errors name the flag and the file and say what to do; the
// generator's certificates chain to their CA, carry the names and usages asked for, and load back.

import { X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { CertificateAuthority, writePemFiles } from "../../src/tls/cert-authority.js";
import { loadCaBundle, loadKeyPair, TlsConfigError, TlsErrorCode } from "../../src/tls/tls-files.js";

let dir: string;
let ca: CertificateAuthority;
let files: { certFile: string; keyFile: string };
let other: { certFile: string; keyFile: string };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ketch-tls-files-"));
  ca = await CertificateAuthority.create({ commonName: "unit-ca" });
  files = await writePemFiles(dir, "server", await ca.issue({ commonName: "store-1", ipAddresses: ["127.0.0.1", "::1"], dnsNames: ["localhost"], usages: ["server", "client"] }));
  other = await writePemFiles(dir, "other", await ca.issue({ commonName: "other", organizations: ["system:masters"], usages: ["client"] }));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const cert = (path: string) => ({ path, flag: "--cert-file" });
const key = (path: string) => ({ path, flag: "--key-file" });

function codeOf(run: () => unknown): { code: TlsErrorCode; message: string } {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(TlsConfigError);
    return { code: (err as TlsConfigError).code, message: (err as Error).message };
  }
  throw new Error("expected a TlsConfigError");
}

describe("certificate generation", () => {
  it("issues certificates signed by the CA with the names, groups and usages asked for", () => {
    const caCert = new X509Certificate(ca.certPem);
    const pair = loadKeyPair(cert(files.certFile), key(files.keyFile));
    const leaf = new X509Certificate(pair.cert);
    expect(leaf.verify(caCert.publicKey)).toBe(true);
    expect(leaf.checkIssued(caCert)).toBe(true);
    expect(leaf.subjectAltName).toBe("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
    expect(leaf.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    expect(caCert.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    const client = new X509Certificate(loadKeyPair(cert(other.certFile), key(other.keyFile)).cert);
    expect(client.subject).toBe("CN=other\nO=system:masters");
    expect(client.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]);
  });

  it("a CA read back from its PEM files issues certificates that chain to it", async () => {
    const again = await CertificateAuthority.fromPem(ca.pair);
    const issued = await again.issue({ commonName: "later", usages: ["client"] });
    expect(new X509Certificate(issued.certPem).checkIssued(new X509Certificate(ca.certPem))).toBe(true);
  });
});

describe("loading certificate files", () => {
  it("a missing file names the flag and the path", () => {
    expect(codeOf(() => loadKeyPair(cert(join(dir, "nope.crt")), key(files.keyFile)))).toEqual({
      code: TlsErrorCode.Unreadable,
      message: `--cert-file ${join(dir, "nope.crt")}: no such file`,
    });
    expect(codeOf(() => loadCaBundle({ path: dir, flag: "--trusted-ca-file" })).message).toBe(`--trusted-ca-file ${dir}: is a directory`);
  });

  it("a key that is not the certificate's is refused", () => {
    const err = codeOf(() => loadKeyPair(cert(files.certFile), key(other.keyFile)));
    expect(err.code).toBe(TlsErrorCode.KeyMismatch);
    expect(err.message).toBe(`--key-file ${other.keyFile}: this private key does not belong to the certificate in --cert-file ${files.certFile}`);
  });

  it("an expired certificate, or one not valid yet, is refused with its dates", async () => {
    const day = 86_400_000;
    const expired = await writePemFiles(dir, "expired", await ca.issue({ commonName: "old", usages: ["client"], notBefore: new Date(Date.now() - 3 * day), notAfter: new Date(Date.now() - day) }));
    const err = codeOf(() => loadKeyPair(cert(expired.certFile), key(expired.keyFile)));
    expect(err.code).toBe(TlsErrorCode.NotValidNow);
    expect(err.message).toMatch(/certificate CN=old expired on \d{4}-\d\d-\d\dT.*; issue a new one$/);
    const future = await writePemFiles(dir, "future", await ca.issue({ commonName: "new", usages: ["client"], notBefore: new Date(Date.now() + day), notAfter: new Date(Date.now() + 2 * day) }));
    expect(codeOf(() => loadKeyPair(cert(future.certFile), key(future.keyFile))).message).toMatch(/is not valid before .*check the clock/);
  });

  it("files that hold no PEM are refused", async () => {
    const junk = join(dir, "junk.pem");
    await writeFile(junk, "not a certificate\n");
    expect(codeOf(() => loadKeyPair(cert(junk), key(files.keyFile))).message).toBe(`--cert-file ${junk}: no PEM certificate in the file`);
    expect(codeOf(() => loadKeyPair(cert(files.certFile), key(junk))).code).toBe(TlsErrorCode.NotPem);
    expect(codeOf(() => loadCaBundle({ path: junk, flag: "--trusted-ca-file" })).code).toBe(TlsErrorCode.NotPem);
  });
});
