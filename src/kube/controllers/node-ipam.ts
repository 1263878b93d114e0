// Node IPAM (kube-controller-manager --allocate-node-cidrs with --cluster-cidr and
// --node-cidr-mask-size): every node gets a free pod CIDR in spec.podCIDR/podCIDRs, from which
// its kubelet assigns pod IPs. IPv4 only. The range allocator is deterministic (lowest free
// block) and the write carries the node's resourceVersion, so two writers cannot both succeed.

import type { Logger } from 'pino';
import { describeError } from '../client/api-error.js';
import type { Node } from '../client/core-types.js';
import { NODES } from '../client/resource-ref.js';
import { objectKey, type Informer } from '../informer/informer.js';
import { defaultControllerRateLimiter } from '../informer/rate-limiter.js';
import { WorkQueue } from '../informer/work-queue.js';
import { runWorkers } from './queue-worker.js';
import type { ControllerContext } from './replicaset-controller.js';

export function parseCidr(cidr: string): { base: number; bits: number } {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr.trim());
  if (m === null) throw new Error(`invalid CIDR "${cidr}" (expected a.b.c.d/n, IPv4)`);
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (octets.some((o) => o > 255) || bits > 32) throw new Error(`invalid CIDR "${cidr}"`);
  const ip = (((octets[0] as number) << 24) | ((octets[1] as number) << 16) | ((octets[2] as number) << 8) | (octets[3] as number)) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return { base: (ip & mask) >>> 0, bits };
}

export function formatIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** The lowest /mask block of `clusterCidr` not in `used`, or undefined when full. */
export function allocateNodeCidr(clusterCidr: string, maskSize: number, used: ReadonlySet<string>): string | undefined {
  const { base, bits } = parseCidr(clusterCidr);
  if (maskSize < bits || maskSize > 30) throw new Error(`node CIDR mask size ${maskSize} does not fit cluster CIDR ${clusterCidr}`);
  const blocks = 2 ** (maskSize - bits);
  const size = 2 ** (32 - maskSize);
  for (let i = 0; i < blocks; i++) {
    const cidr = `${formatIp((base + i * size) >>> 0)}/${maskSize}`;
    if (!used.has(cidr)) return cidr;
  }
  return undefined;
}

export class NodeIpamController {
  private readonly queue: WorkQueue<string>;
  private readonly nodeInf: Informer<Node>;
  private readonly log: Logger | undefined;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly clusterCidr: string,
    private readonly maskSize: number,
  ) {
    parseCidr(clusterCidr);
    this.queue = new WorkQueue<string>(ctx.clock, defaultControllerRateLimiter<string>(ctx.clock));
    this.nodeInf = ctx.informers.get<Node>(NODES);
    this.log = ctx.logger?.child({ controller: 'nodeipam' });
    this.nodeInf.addHandlers({
      onAdd: (n) => this.queue.add(objectKey(n)),
      onUpdate: (_o, n) => this.queue.add(objectKey(n)),
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!(await this.ctx.informers.waitForSync(signal))) return;
    // One worker: allocations must see each other.
    await runWorkers('nodeipam', this.queue, 1, (key) => this.sync(key), signal, this.log);
  }

  private async sync(key: string): Promise<void> {
    const node = this.nodeInf.getByKey(key);
    if (node === undefined || (node.spec?.podCIDR ?? '') !== '') return;
    const used = new Set<string>();
    for (const n of this.nodeInf.list()) for (const c of [n.spec?.podCIDR, ...(n.spec?.podCIDRs ?? [])]) if (c !== undefined && c !== '') used.add(c);
    const cidr = allocateNodeCidr(this.clusterCidr, this.maskSize, used);
    if (cidr === undefined) {
      this.ctx.recorder.event(node, 'Normal', 'CIDRNotAvailable', `Node ${node.metadata.name ?? ''} status is now: CIDRNotAvailable`);
      throw new Error(`no pod CIDR left in ${this.clusterCidr}`);
    }
    try {
      await this.ctx.client.patch(NODES, undefined, node.metadata.name ?? '', 'merge', { metadata: { resourceVersion: node.metadata.resourceVersion }, spec: { podCIDR: cidr, podCIDRs: [cidr] } });
      this.log?.info({ node: node.metadata.name, podCIDR: cidr }, 'allocated pod CIDR');
    } catch (err) {
      this.log?.debug({ node: node.metadata.name, err: describeError(err) }, 'pod CIDR allocation failed');
      throw err;
    }
  }
}
