// Reads the apiserver URL from a kubeconfig file (clusters / contexts / current-context), the way
// kubectl resolves it. Only plain-HTTP servers without credentials are supported for now.

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

export interface KubeconfigTarget {
  server: string;
  context: string;
  cluster: string;
  namespace?: string;
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
  if (url.protocol !== 'http:') throw new KubeconfigError(`${file}: server ${server}: only plain http:// apiservers are supported`);
  const target: KubeconfigTarget = { server: server.replace(/\/+$/, ''), context: contextName, cluster: clusterName };
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
