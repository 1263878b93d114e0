import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

/**
 * A local cluster as a topology file (cluster/*.yaml) describes it: store members (ketch), apiservers
 * over them, a TCP load balancer in front of the apiservers, and the leader-elected components and
 * kubelets that talk to the apiservers.
 */

export const MEMBER_KINDS = ['store', 'apiserver', 'lb', 'scheduler', 'controller-manager', 'kubelet'] as const;
export type MemberKind = (typeof MEMBER_KINDS)[number];

interface MemberBase {
  readonly name: string;
  readonly host: string;
  /** Extra flags for the member's program, e.g. { 'snapshot-count': 1000 }. */
  readonly flags: Readonly<Record<string, string>>;
}

export interface StoreMember extends MemberBase {
  readonly kind: 'store';
  /** Client and peer URLs are https:// with mutual TLS (the topology's `tls`). */
  readonly tls: boolean;
  readonly clientPort: number;
  readonly peerPort: number;
}

export interface ApiserverMember extends MemberBase {
  readonly kind: 'apiserver';
  readonly port: number;
  /** HTTPS with client certificates, RBAC and Secrets encrypted at rest (the topology's `tls`). */
  readonly tls: boolean;
  /** Names of the store members it uses (--etcd-servers); all stores unless the file says. */
  readonly stores: readonly string[];
}

export interface LbMember extends MemberBase {
  readonly kind: 'lb';
  readonly port: number;
  /** The apiservers behind it speak HTTPS (it passes TLS through). */
  readonly tls: boolean;
  /** Names of the apiservers behind it; all apiservers unless the file says. */
  readonly backends: readonly string[];
}

export interface ComponentMember extends MemberBase {
  readonly kind: 'scheduler' | 'controller-manager';
  /** Names of the apiservers (or the lb) it talks to (--master, in order); all apiservers unless the file says. */
  readonly masters: readonly string[];
}

export interface KubeletMember extends MemberBase {
  readonly kind: 'kubelet';
  /** Names of the apiservers or lb it talks to; the lb if there is one, else all apiservers. */
  readonly masters: readonly string[];
  /** Its node's name (with nodes > 1: <nodeName>-1 ... <nodeName>-N); the member's name by default. */
  readonly nodeName: string;
  readonly nodes: number;
}

export type TopologyMember = StoreMember | ApiserverMember | LbMember | ComponentMember | KubeletMember;

export interface Topology {
  readonly name: string;
  /** `tls: true`: `up` makes a CA and certificates; apiservers serve HTTPS with RBAC, components use their own identities. */
  readonly tls: boolean;
  readonly members: readonly TopologyMember[];
}

export class TopologyError extends Error {}

/** Start order: each tier is healthy before the next one starts. */
export const START_TIERS: readonly (readonly MemberKind[])[] = [['store'], ['apiserver'], ['lb'], ['scheduler', 'controller-manager', 'kubelet']];

export function loadTopology(path: string): Topology {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TopologyError(`cannot read topology ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new TopologyError(`${path}: not valid YAML: ${(err as Error).message}`);
  }
  return parseTopology(doc, path);
}

/** Validates a parsed topology document; every error names the file and the member. */
export function parseTopology(doc: unknown, path: string): Topology {
  const top = doc as { name?: unknown; members?: unknown; tls?: unknown };
  if (typeof top !== 'object' || top === null || !Array.isArray(top.members) || top.members.length === 0) {
    throw new TopologyError(`${path}: expected a mapping with a non-empty 'members' list`);
  }
  const rawMembers = top.members as unknown[];
  // Names and kinds first, so references may point forward in the file.
  const kindOf = new Map<string, MemberKind>();
  rawMembers.forEach((raw, i) => {
    const where = `${path}: members[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TopologyError(`${where}: expected a mapping`);
    const m = raw as Record<string, unknown>;
    if (typeof m.name !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(m.name)) throw new TopologyError(`${where}: 'name' must be lower-case letters, digits and dashes`);
    if (kindOf.has(m.name)) throw new TopologyError(`${where}: duplicate name ${m.name}`);
    if (typeof m.kind !== 'string' || !(MEMBER_KINDS as readonly string[]).includes(m.kind)) throw new TopologyError(`${where} (${m.name}): 'kind' must be one of ${MEMBER_KINDS.join(', ')}`);
    kindOf.set(m.name, m.kind as MemberKind);
  });
  const named = (kinds: readonly MemberKind[]): string[] => [...kindOf].filter(([, k]) => kinds.includes(k)).map(([n]) => n);
  if (named(['store']).length === 0) throw new TopologyError(`${path}: needs at least one member of kind store`);
  const needsApi = named(['lb', 'scheduler', 'controller-manager', 'kubelet']);
  if (needsApi.length > 0 && named(['apiserver']).length === 0) throw new TopologyError(`${path}: ${needsApi.join(', ')} need at least one member of kind apiserver`);
  if (named(['lb']).length > 1) throw new TopologyError(`${path}: at most one member of kind lb (the kubeconfig points at it)`);
  if (top.tls !== undefined && typeof top.tls !== 'boolean') throw new TopologyError(`${path}: 'tls' must be true or false`);
  const tls = top.tls === true;

  const ports = new Map<number, string>();
  const members = rawMembers.map((raw, i): TopologyMember => {
    const m = raw as Record<string, unknown>;
    const name = m.name as string;
    const kind = kindOf.get(name) as MemberKind;
    const where = `${path}: members[${i}] (${name})`;
    const allowed = new Set(['name', 'kind', 'host', 'flags', ...FIELDS[kind]]);
    for (const key of Object.keys(m)) if (!allowed.has(key)) throw new TopologyError(`${where}: unknown field '${key}' for kind ${kind} (allowed: ${[...allowed].join(', ')})`);
    const port = (key: string): number => {
      const p = m[key];
      if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) throw new TopologyError(`${where}: '${key}' must be a port number (1-65535)`);
      const other = ports.get(p);
      if (other !== undefined) throw new TopologyError(`${where}: port ${p} is already used by ${other}`);
      ports.set(p, name);
      return p;
    };
    /** A list of member names of the given kinds, or the default when the field is absent. */
    const refs = (key: string, kinds: readonly MemberKind[], def: string[]): string[] => {
      const v = m[key];
      if (v === undefined) return def;
      if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'string')) throw new TopologyError(`${where}: '${key}' must be a non-empty list of member names`);
      for (const ref of v as string[]) {
        const k = kindOf.get(ref);
        if (k === undefined) throw new TopologyError(`${where}: '${key}' names ${ref}, which is not a member`);
        if (!kinds.includes(k)) throw new TopologyError(`${where}: '${key}' names ${ref} of kind ${k}; expected ${kinds.join(' or ')}`);
      }
      if (new Set(v).size !== v.length) throw new TopologyError(`${where}: '${key}' names a member twice`);
      return v as string[];
    };
    if (m.flags !== undefined && (typeof m.flags !== 'object' || m.flags === null || Array.isArray(m.flags))) throw new TopologyError(`${where}: 'flags' must be a mapping of flag name to value`);
    const flags: Record<string, string> = {};
    for (const [k, v] of Object.entries((m.flags as Record<string, unknown> | undefined) ?? {})) {
      if (typeof v === 'object' && v !== null) throw new TopologyError(`${where}: flag '${k}' must be a plain value`);
      flags[k.replace(/^--/, '')] = String(v);
    }
    if (m.host !== undefined && (typeof m.host !== 'string' || m.host === '')) throw new TopologyError(`${where}: 'host' must be an address`);
    const base = { name, host: (m.host as string | undefined) ?? '127.0.0.1', flags };
    const apiservers = named(['apiserver']);
    switch (kind) {
      case 'store':
        return { ...base, kind, tls, clientPort: port('clientPort'), peerPort: port('peerPort') };
      case 'apiserver':
        return { ...base, kind, port: port('port'), tls, stores: refs('stores', ['store'], named(['store'])) };
      case 'lb':
        return { ...base, kind, port: port('port'), tls, backends: refs('backends', ['apiserver'], apiservers) };
      case 'scheduler':
      case 'controller-manager':
        return { ...base, kind, masters: refs('masters', ['apiserver', 'lb'], apiservers) };
      case 'kubelet': {
        const nodes = m.nodes ?? 1;
        if (typeof nodes !== 'number' || !Number.isInteger(nodes) || nodes < 1 || nodes > 5000) throw new TopologyError(`${where}: 'nodes' must be a whole number from 1 to 5000`);
        const nodeName = m.nodeName ?? name;
        if (typeof nodeName !== 'string' || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(nodeName)) throw new TopologyError(`${where}: 'nodeName' must be a lower-case DNS name`);
        const lb = named(['lb']);
        return { ...base, kind, masters: refs('masters', ['apiserver', 'lb'], lb.length > 0 ? lb : apiservers), nodeName, nodes };
      }
    }
  });
  if (top.name !== undefined && (typeof top.name !== 'string' || top.name === '')) throw new TopologyError(`${path}: 'name' must be a string`);
  return { name: (top.name as string | undefined) ?? 'ketch', tls, members };
}

const FIELDS: Record<MemberKind, readonly string[]> = {
  store: ['clientPort', 'peerPort'],
  apiserver: ['port', 'stores'],
  lb: ['port', 'backends'],
  scheduler: ['masters'],
  'controller-manager': ['masters'],
  kubelet: ['masters', 'nodeName', 'nodes'],
};

export function stores(t: Topology): StoreMember[] {
  return t.members.filter((m): m is StoreMember => m.kind === 'store');
}

export function clientUrl(m: StoreMember): string {
  return `${m.tls ? 'https' : 'http'}://${m.host}:${m.clientPort}`;
}

export function peerUrl(m: StoreMember): string {
  return `${m.tls ? 'https' : 'http'}://${m.host}:${m.peerPort}`;
}

/** The URL clients use: a store's client URL, an apiserver's or the lb's HTTP(S) URL; '' for the rest. */
export function memberUrl(m: TopologyMember): string {
  switch (m.kind) {
    case 'store':
      return clientUrl(m);
    case 'apiserver':
    case 'lb':
      return `${m.tls ? 'https' : 'http'}://${m.host}:${m.port}`;
    default:
      return '';
  }
}

/** The names of the simulated nodes a kubelet member runs. */
export function nodeNames(m: KubeletMember): string[] {
  return m.nodes === 1 ? [m.nodeName] : Array.from({ length: m.nodes }, (_, i) => `${m.nodeName}-${i + 1}`);
}
