// A small certificate authority: makes a CA and issues server, peer and client certificates from
// it (for ketch-cluster, --auto-tls and tests). Node's crypto can sign but cannot write X.509, so
// the certificates are built by @peculiar/x509 on Node's WebCrypto: in process, no openssl binary.
// Keys are ECDSA P-256 with SHA-256 signatures, as etcd's own --auto-tls makes them.
//
//   const ca = await CertificateAuthority.create({ commonName: 'ketch-ca' });
//   const server = await ca.issue({ commonName: 'store-1', ipAddresses: ['127.0.0.1'], usages: ['server', 'client'] });
//   await writePemFiles(dir, 'store-1', server);   // store-1.crt, store-1.key (0600)

// tsyringe, under @peculiar/x509, needs the Reflect metadata API present before it loads.
import 'reflect-metadata';

import { webcrypto, randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

const subtle = webcrypto.subtle as SubtleCrypto;
x509.cryptoProvider.set(webcrypto as Crypto);

const EC_KEY: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 24 * 60 * 60 * 1000;
/** Certificates start a little in the past, so a member whose clock is slightly behind accepts them. */
const BACKDATE_MS = 5 * 60 * 1000;

/** What a certificate may be used for: 'server' (TLS server auth) and/or 'client' (TLS client auth). */
export type CertUsage = 'server' | 'client';

export interface PemKeyPair {
  readonly certPem: string;
  /** PKCS#8, unencrypted. */
  readonly keyPem: string;
}

export interface Validity {
  /** Valid for this many days from now (default: 365 for leaves, 3650 for a CA). */
  readonly validDays?: number;
  /** Explicit period; wins over validDays (tests make expired certificates this way). */
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

export interface IssueOptions extends Validity {
  readonly commonName: string;
  /** Subject O= entries (Kubernetes reads them as the client's groups, e.g. system:masters). */
  readonly organizations?: readonly string[];
  /** Subject alternative names: host names, and IP addresses (v4 or v6). */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly usages: readonly CertUsage[];
}

function period(v: Validity, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return {
    notBefore: v.notBefore ?? new Date(now - BACKDATE_MS),
    notAfter: v.notAfter ?? new Date(now + (v.validDays ?? defaultDays) * DAY_MS),
  };
}

/** A random positive 128-bit serial (hex), as RFC 5280 asks: unique per CA without bookkeeping. */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f;
  return bytes.toString('hex');
}

/** "CN=x, O=a, O=b" in x509's JSON name form (escaping done by the library). */
function subjectName(commonName: string, organizations: readonly string[] = []): x509.JsonName {
  return [{ CN: [commonName] }, ...organizations.map((o) => ({ O: [o] }))];
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** Imports a PEM private key (PKCS#8) for signing: ECDSA P-256/P-384 or RSA, as CAs made elsewhere use. */
async function importSigningKey(keyPem: string, cert: x509.X509Certificate): Promise<{ key: CryptoKey; signing: Algorithm | EcdsaParams }> {
  const der = x509.PemConverter.decodeFirst(keyPem);
  const alg = cert.publicKey.algorithm as EcKeyAlgorithm | RsaHashedKeyAlgorithm;
  if (alg.name === 'ECDSA') {
    const curve = (alg as EcKeyAlgorithm).namedCurve;
    const key = await subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: curve }, false, ['sign']);
    return { key, signing: { name: 'ECDSA', hash: curve === 'P-384' ? 'SHA-384' : 'SHA-256' } as EcdsaParams };
  }
  if (alg.name === 'RSASSA-PKCS1-v1_5') {
    const key = await subtle.importKey('pkcs8', der, { name: alg.name, hash: 'SHA-256' }, false, ['sign']);
    return { key, signing: { name: alg.name } };
  }
  throw new Error(`CA keys of type ${alg.name} are not supported (use ECDSA or RSA, PKCS#8 PEM)`);
}

export class CertificateAuthority {
  private constructor(
    private readonly cert: x509.X509Certificate,
    private readonly signingKey: CryptoKey,
    private readonly signing: Algorithm | EcdsaParams,
    /** The CA's certificate and key, to write out or keep. */
    readonly pair: PemKeyPair,
  ) {}

  /** A new self-signed CA (10 years by default). */
  static async create(options: { commonName?: string } & Validity = {}): Promise<CertificateAuthority> {
    const keys = await subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name: subjectName(options.commonName ?? 'ketch-ca'),
      ...period(options, 3650),
      keys,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new CertificateAuthority(cert, keys.privateKey, SIGNING, { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) });
  }

  /** A CA from its PEM certificate and PKCS#8 key (e.g. read back from an earlier run). */
  static async fromPem(pair: PemKeyPair): Promise<CertificateAuthority> {
    const cert = new x509.X509Certificate(pair.certPem);
    const { key, signing } = await importSigningKey(pair.keyPem, cert);
    return new CertificateAuthority(cert, key, signing, pair);
  }

  get certPem(): string {
    return this.pair.certPem;
  }

  /** Issues a certificate with a new key pair, signed by this CA (1 year by default). */
  async issue(options: IssueOptions): Promise<PemKeyPair> {
    if (options.usages.length === 0) throw new Error('issue: give at least one usage (server, client)');
    const keys = await subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
    const names: x509.JsonGeneralName[] = [
      ...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
      ...(options.ipAddresses ?? []).map((value) => {
        if (isIP(value) === 0) throw new Error(`issue: ${JSON.stringify(value)} is not an IP address`);
        return { type: 'ip' as const, value };
      }),
    ];
    const extendedUsages = options.usages.map((u) => (u === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth));
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension(extendedUsages, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(this.cert),
    ];
    if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: subjectName(options.commonName, options.organizations),
      issuer: this.cert.subjectName,
      ...period(options, 365),
      publicKey: keys.publicKey,
      signingKey: this.signingKey,
      signingAlgorithm: this.signing,
      extensions,
    });
    return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
  }
}

/**
 * Writes `<dir>/<baseName>.crt` and `<dir>/<baseName>.key` (the key readable by its owner only),
 * creating dir. Returns the two paths, ready for --cert-file/--key-file style flags.
 */
export async function writePemFiles(dir: string, baseName: string, pair: PemKeyPair): Promise<{ certFile: string; keyFile: string }> {
  await mkdir(dir, { recursive: true });
  const certFile = join(dir, `${baseName}.crt`);
  const keyFile = join(dir, `${baseName}.key`);
  await writeFile(certFile, pair.certPem);
  await writeFile(keyFile, pair.keyPem, { mode: 0o600 });
  await chmod(keyFile, 0o600); // writeFile's mode applies only when it creates the file
  return { certFile, keyFile };
}
