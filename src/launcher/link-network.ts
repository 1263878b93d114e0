// The peer links of a local cluster as a set of LinkProxy instances, one per directed link between
// two store members: member A dials member B's peer URL through the proxy (A→B), told so by
// KETCH_PEER_DIAL_OVERRIDES. Cutting the pair {A, B} cuts both directions.

import { createServer } from 'node:net';

import { type CutMode, LinkProxy } from './link-proxy.js';

/** One directed link: `from` dials `to` through 127.0.0.1:listenPort. */
export interface LinkSpec {
  readonly from: string;
  readonly to: string;
  readonly listenPort: number;
  readonly targetHost: string;
  readonly targetPort: number;
}

/** What `ketch-cluster partition/heal` asks for; the proxy process applies it. */
export interface PartitionRequest {
  readonly generation: number;
  /** Member pairs whose links are cut (both directions). */
  readonly cut: ReadonlyArray<readonly [string, string]>;
}

/** The pairs to cut so that `named` and the other members cannot talk across. */
export function partitionPairs(members: readonly string[], named: readonly string[]): Array<[string, string]> {
  for (const n of named) if (!members.includes(n)) throw new Error(`no store member named ${n}; members: ${members.join(', ')}`);
  if (named.length === 0) throw new Error('partition needs at least one member name');
  const rest = members.filter((m) => !named.includes(m));
  const pairs: Array<[string, string]> = [];
  for (const a of named) for (const b of rest) pairs.push([a, b]);
  return pairs;
}

/** KETCH_PEER_DIAL_OVERRIDES for `member`: each peer's URL → the proxy of the link member→peer. */
export function dialOverridesFor(member: string, links: readonly LinkSpec[], peerUrls: ReadonlyMap<string, string>): string {
  const map: Record<string, string> = {};
  for (const l of links) {
    if (l.from !== member) continue;
    const url = peerUrls.get(l.to);
    if (url !== undefined) map[url] = `http://127.0.0.1:${l.listenPort}`;
  }
  return JSON.stringify(map);
}

/** Free loopback ports (the kernel's choice; another process could take one before we bind it). */
export async function freeLoopbackPorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    const ports: number[] = [];
    for (const s of servers) {
      ports.push(
        await new Promise<number>((resolve, reject) => {
          s.once('error', reject);
          s.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
            const a = s.address();
            if (a === null || typeof a === 'string') reject(new Error('no port'));
            else resolve(a.port);
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }
}

/** The links every pair of `members` needs, on the given ports (members × (members - 1) of them). */
export function planLinks(members: ReadonlyArray<{ name: string; host: string; peerPort: number }>, ports: readonly number[]): LinkSpec[] {
  const links: LinkSpec[] = [];
  for (const a of members) {
    for (const b of members) {
      if (a === b) continue;
      const port = ports[links.length];
      if (port === undefined) throw new Error(`not enough ports for ${members.length * (members.length - 1)} links`);
      links.push({ from: a.name, to: b.name, listenPort: port, targetHost: b.host, targetPort: b.peerPort });
    }
  }
  return links;
}

export class LinkNetwork {
  private constructor(private readonly proxies: ReadonlyArray<{ spec: LinkSpec; proxy: LinkProxy }>) {}

  static async start(links: readonly LinkSpec[]): Promise<LinkNetwork> {
    const proxies: Array<{ spec: LinkSpec; proxy: LinkProxy }> = [];
    try {
      for (const spec of links) {
        proxies.push({ spec, proxy: await LinkProxy.start({ listenPort: spec.listenPort, targetHost: spec.targetHost, targetPort: spec.targetPort }) });
      }
    } catch (err) {
      for (const p of proxies) await p.proxy.close();
      throw err;
    }
    return new LinkNetwork(proxies);
  }

  /** Cuts exactly these pairs (both directions) and heals every other link. */
  apply(cut: ReadonlyArray<readonly [string, string]>, mode: CutMode = 'drop'): void {
    const isCut = (a: string, b: string): boolean => cut.some(([x, y]) => (x === a && y === b) || (x === b && y === a));
    for (const { spec, proxy } of this.proxies) {
      if (isCut(spec.from, spec.to)) proxy.cut(mode);
      else proxy.heal();
    }
  }

  async close(): Promise<void> {
    for (const p of this.proxies) await p.proxy.close();
  }
}
