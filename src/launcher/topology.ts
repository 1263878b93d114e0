import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

/** A member of a local cluster as a topology file (cluster/*.yaml) describes it. */
export interface TopologyMember {
  readonly name: string;
  readonly kind: 'store';
  readonly host: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** Extra flags for the member's program, e.g. { 'snapshot-count': 1000 }. */
  readonly flags: Readonly<Record<string, string>>;
}

export interface Topology {
  readonly name: string;
  readonly members: readonly TopologyMember[];
}

export class TopologyError extends Error {}

const KINDS = new Set(['store']);

export function loadTopology(path: string): Topology {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new TopologyError(`cannot read topology ${path}: ${(err as Error).message}`);
  }
  const top = doc as { name?: unknown; members?: unknown };
  if (typeof top !== 'object' || top === null || !Array.isArray(top.members) || top.members.length === 0) {
    throw new TopologyError(`${path}: expected a mapping with a non-empty 'members' list`);
  }
  const names = new Set<string>();
  const ports = new Set<number>();
  const members = top.members.map((raw: unknown, i: number): TopologyMember => {
    const m = raw as Record<string, unknown>;
    const where = `${path}: members[${i}]`;
    if (typeof m.name !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(m.name)) throw new TopologyError(`${where}: 'name' must be lower-case letters, digits and dashes`);
    if (names.has(m.name)) throw new TopologyError(`${where}: duplicate name ${m.name}`);
    names.add(m.name);
    if (typeof m.kind !== 'string' || !KINDS.has(m.kind)) throw new TopologyError(`${where}: 'kind' must be one of ${[...KINDS].join(', ')}`);
    const port = (key: string): number => {
      const p = m[key];
      if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) throw new TopologyError(`${where}: '${key}' must be a port number`);
      if (ports.has(p)) throw new TopologyError(`${where}: port ${p} is used twice`);
      ports.add(p);
      return p;
    };
    const flags: Record<string, string> = {};
    for (const [k, v] of Object.entries((m.flags as Record<string, unknown> | undefined) ?? {})) flags[k] = String(v);
    return {
      name: m.name,
      kind: 'store',
      host: typeof m.host === 'string' ? m.host : '127.0.0.1',
      clientPort: port('clientPort'),
      peerPort: port('peerPort'),
      flags,
    };
  });
  return { name: typeof top.name === 'string' ? top.name : 'ketch', members };
}

export function clientUrl(m: TopologyMember): string {
  return `http://${m.host}:${m.clientPort}`;
}

export function peerUrl(m: TopologyMember): string {
  return `http://${m.host}:${m.peerPort}`;
}
