import type { NodeId } from './types.js';

interface PendingRead {
  readonly index: number;
  /** Who asked: the leader itself or a follower that forwarded the request. */
  readonly from: NodeId;
  readonly acks: Set<NodeId>;
}

/**
 * Linearizable reads waiting for the leader to confirm, with one heartbeat round, that it was still
 * leader when it recorded their commit index (Raft thesis section 6.4).
 */
export class ReadOnly {
  private readonly pending = new Map<string, PendingRead>();
  private readonly queue: string[] = [];

  add(ctx: string, index: number, from: NodeId): void {
    if (this.pending.has(ctx)) return;
    this.pending.set(ctx, { index, from, acks: new Set() });
    this.queue.push(ctx);
  }

  /** Records that `id` acknowledged the heartbeat carrying ctx; returns how many have. */
  recvAck(id: NodeId, ctx: string): number {
    const read = this.pending.get(ctx);
    if (read === undefined) return 0;
    read.acks.add(id);
    return read.acks.size;
  }

  /** Releases ctx and every read queued before it (the ack covered them too). */
  advance(ctx: string): Array<{ ctx: string; index: number; from: NodeId }> {
    const at = this.queue.indexOf(ctx);
    if (at < 0) return [];
    const released = this.queue.splice(0, at + 1);
    return released.map((c) => {
      const read = this.pending.get(c) as PendingRead;
      this.pending.delete(c);
      return { ctx: c, index: read.index, from: read.from };
    });
  }

  /** The newest pending read, whose confirmation confirms all older ones. */
  lastPendingCtx(): string | undefined {
    return this.queue[this.queue.length - 1];
  }

  reset(): void {
    this.pending.clear();
    this.queue.length = 0;
  }
}
