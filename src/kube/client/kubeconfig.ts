// Reads the apiserver URL and the credentials from a kubeconfig file (clusters / contexts / users /
// current-context), the way kubectl resolves them: the cluster's CA (certificate-authority[-data])
// or insecure-skip-tls-verify, and the user's client certificate and key
// (client-certificate[-data], client-key[-data]) or bearer token (token, tokenFile). File paths
// are relative to the kubeconfig's own directory.

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';

import { parse as parseYaml } from 'yaml';

/** What a client needs to reach and authenticate to an https:// apiserver (PEM contents). */
export interface ApiCredentials {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  insecureSkipTlsVerify?: boolean;
}

export interface KubeconfigTarget {
  server: string;
  context: string;
  cluster: string;
  namespace?: string;
  credentials: ApiCredentials;
}

export class KubeconfigError extends Error {}

interface Named<T> {
  name?: unknown;
  [key: string]: unknown;
  value?: T;
}

function findNamed(list: unknown, name: string, field: string, file: string): Record<string, unknown> {
  if (!Array.isArray(list)) throw new KubeconfigError(`${file}: no ${field}s list`);
  const entry = (list as Named<unknown>[]).find((e) => typeof e === 'object' && e !== null && e.name === name);
  if (entry === undefined) throw new KubeconfigError(`${file}: ${field} "${name}" not found`);
  const inner = entry[field];
  if (typeof inner !== 'object' || inner === null) throw new KubeconfigError(`${file}: ${field} "${name}" has no ${field} section`);
  return inner as Record<string, unknown>;
}

/** Parses kubeconfig text; `context` overrides current-context. */
export function parseKubeconfig(text: string, file = 'kubeconfig', context?: string): KubeconfigTarget {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new KubeconfigError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null) throw new KubeconfigError(`${file}: empty or not a mapping`);
  const root = doc as Record<string, unknown>;
  const contextName = context ?? root['current-context'];
  if (typeof contextName !== 'string' || contextName === '') throw new KubeconfigError(`${file}: no current-context set`);
  const ctx = findNamed(root.contexts, contextName, 'context', file);
  const clusterName = ctx.cluster;
  if (typeof clusterName !== 'string') throw new KubeconfigError(`${file}: context "${contextName}" names no cluster`);
  const cluster = findNamed(root.clusters, clusterName, 'cluster', file);
  const server = cluster.server;
  if (typeof server !== 'string' || server === '') throw new KubeconfigError(`${file}: cluster "${clusterName}" has no server`);
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new KubeconfigError(`${file}: cluster "${clusterName}" server "${server}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new KubeconfigError(`${file}: server ${server}: expected an http:// or https:// URL`);
  const credentials: ApiCredentials = {};
  const base = dirname(file);
  const pem = (section: Record<string, unknown>, fileField: string, dataField: string, what: string): Buffer | undefined => {
    const data = section[dataField];
    if (typeof data === 'string' && data !== '') return Buffer.from(data, 'base64');
    const path = section[fileField];
    if (typeof path !== 'string' || path === '') return undefined;
    const full = isAbsolute(path) ? path : join(base, path);
    try {
      return readFileSync(full);
    } catch (err) {
      throw new KubeconfigError(`${file}: cannot read the ${what} ${full}: ${(err as Error).message}`);
    }
  };
  const ca = pem(cluster, 'certificate-authority', 'certificate-authority-data', 'certificate authority');
  if (ca !== undefined) credentials.ca = ca;
  if (cluster['insecure-skip-tls-verify'] === true) credentials.insecureSkipTlsVerify = true;
  const userName = ctx.user;
  if (typeof userName === 'string' && userName !== '') {
    const user = findNamed(root.users, userName, 'user', file);
    const cert = pem(user, 'client-certificate', 'client-certificate-data', 'client certificate');
    const key = pem(user, 'client-key', 'client-key-data', 'client key');
    if ((cert === undefined) !== (key === undefined)) throw new KubeconfigError(`${file}: user "${userName}" needs both a client certificate and a client key`);
    if (cert !== undefined && key !== undefined) {
      credentials.cert = cert;
      credentials.key = key;
    }
    let token = typeof user.token === 'string' && user.token !== '' ? user.token : undefined;
    if (token === undefined && typeof user.tokenFile === 'string' && user.tokenFile !== '') {
      const full = isAbsolute(user.tokenFile) ? user.tokenFile : join(base, user.tokenFile);
      try {
        token = readFileSync(full, 'utf8').trim();
      } catch (err) {
        throw new KubeconfigError(`${file}: cannot read the token file ${full}: ${(err as Error).message}`);
      }
    }
    if (token !== undefined) credentials.token = token;
  }
  const target: KubeconfigTarget = { server: server.replace(/\/+$/, ''), context: contextName, cluster: clusterName, credentials };
  if (typeof ctx.namespace === 'string' && ctx.namespace !== '') target.namespace = ctx.namespace;
  return target;
}

export function loadKubeconfig(file: string, context?: string): KubeconfigTarget {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new KubeconfigError(`cannot read kubeconfig ${file}: ${(err as Error).message}`);
  }
  return parseKubeconfig(text, file, context);
}
