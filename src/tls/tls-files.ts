// Reads the certificate, key and CA files named by TLS flags (ketch's --cert-file, ketchctl's
// --cacert, the apiserver's --etcd-certfile, ...) and checks them before any socket uses them, so a
// wrong file is one clear line at start-up instead of a handshake failure on some later connection.
// Only node:crypto here: the store and ketchctl load this, never the certificate generator.

import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

export enum TlsErrorCode {
  /** A file cannot be read (missing, a directory, no permission). */
  Unreadable = 'Unreadable',
  /** A file holds no PEM certificate, or no PEM private key. */
  NotPem = 'NotPem',
  /** The private key is not the one the certificate was issued for. */
  KeyMismatch = 'KeyMismatch',
  /** The certificate's validity period is over, or has not begun. */
  NotValidNow = 'NotValidNow',
  /** A certificate flag without its partner (a cert without a key, ...). */
  Incomplete = 'Incomplete',
}

export class TlsConfigError extends Error {
  constructor(
    readonly code: TlsErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TlsConfigError';
  }
}

/** A certificate chain and its private key, as PEM, checked to belong together and to be valid now. */
export interface LoadedKeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The leaf's subject, e.g. "CN=store-1", for logs. */
  readonly subject: string;
  readonly validTo: Date;
}

/** Where a file came from, for messages: the flag that named it. */
export interface FileSource {
  readonly path: string;
  readonly flag: string;
}

function readSource(source: FileSource): Buffer {
  try {
    return readFileSync(source.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new TlsConfigError(TlsErrorCode.Unreadable, `${source.flag} ${source.path}: ${why}`);
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** Every certificate in a PEM bundle, parsed; throws NotPem when there is none or one does not parse. */
export function parseCertificates(pem: Buffer | string, source: FileSource): X509Certificate[] {
  const blocks = pem.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new TlsConfigError(TlsErrorCode.NotPem, `${source.flag} ${source.path}: no PEM certificate in the file`);
  return blocks.map((block) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new TlsConfigError(TlsErrorCode.NotPem, `${source.flag} ${source.path}: a certificate does not parse (${(err as Error).message})`);
    }
  });
}

function checkValidNow(cert: X509Certificate, source: FileSource, now: Date): void {
  const validTo = new Date(cert.validTo);
  const validFrom = new Date(cert.validFrom);
  if (now.getTime() > validTo.getTime()) {
    throw new TlsConfigError(
      TlsErrorCode.NotValidNow,
      `${source.flag} ${source.path}: certificate ${cert.subject.replaceAll('\n', ', ')} expired on ${validTo.toISOString()}; issue a new one`,
    );
  }
  if (now.getTime() < validFrom.getTime()) {
    throw new TlsConfigError(
      TlsErrorCode.NotValidNow,
      `${source.flag} ${source.path}: certificate ${cert.subject.replaceAll('\n', ', ')} is not valid before ${validFrom.toISOString()} (check the clock)`,
    );
  }
}

/**
 * Loads a certificate (chain) and its private key: both readable, PEM, the key the certificate's
 * own, the leaf valid at `now`. Messages name the flags, e.g. "--key-file /x.key: no such file".
 */
export function loadKeyPair(certSource: FileSource, keySource: FileSource, now = new Date()): LoadedKeyPair {
  const cert = readSource(certSource);
  const key = readSource(keySource);
  const leaf = parseCertificates(cert, certSource)[0] as X509Certificate;
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new TlsConfigError(TlsErrorCode.NotPem, `${keySource.flag} ${keySource.path}: not a PEM private key (unencrypted PKCS#8, PKCS#1 or SEC1)`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new TlsConfigError(
      TlsErrorCode.KeyMismatch,
      `${keySource.flag} ${keySource.path}: this private key does not belong to the certificate in ${certSource.flag} ${certSource.path}`,
    );
  }
  checkValidNow(leaf, certSource, now);
  return { cert, key, subject: leaf.subject.replaceAll('\n', ', '), validTo: new Date(leaf.validTo) };
}

/** Loads a CA bundle (one or more PEM certificates) for verifying the other side. */
export function loadCaBundle(source: FileSource): Buffer {
  const pem = readSource(source);
  parseCertificates(pem, source);
  return pem;
}
