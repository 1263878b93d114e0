// What every workload client shares: the history, the endpoints, a seeded random source, and the
// rule for turning a failed call into a definite failure or an unknown outcome.

import { SeededRandom } from '../../../src/util/prng.js';
import type { History, HistoryOp } from '../history.js';
import { CallError, RawClient } from '../raw-client.js';
import type { AckedWrite } from '../checker/event-log.js';

export interface RunControl {
  /** Set when the workload should stop issuing new operations. */
  stopping: boolean;
}

export interface WorkerContext {
  readonly history: History;
  readonly endpoints: readonly string[];
  readonly control: RunControl;
  /** Every key of the run starts with this. */
  readonly prefix: string;
  readonly opTimeoutMs: number;
  /** Acknowledged writes, for the lost-write check against the revision history. */
  readonly acked: AckedWrite[];
  /**
   * Sabotage for validating the checker: reads are serializable (a member answers from its own
   * state, possibly stale), so a run with partitions must be reported as not linearizable.
   */
  readonly serializableReads?: boolean;
}

/** A client that talks to one endpoint at a time and moves to another after a failure. */
export class EndpointClient {
  private readonly clients = new Map<string, RawClient>();
  private index: number;

  constructor(
    private readonly endpoints: readonly string[],
    private readonly random: SeededRandom,
  ) {
    this.index = random.int(endpoints.length);
  }

  get endpoint(): string {
    return this.endpoints[this.index] as string;
  }

  get client(): RawClient {
    const ep = this.endpoint;
    let c = this.clients.get(ep);
    if (c === undefined) {
      c = new RawClient(ep);
      this.clients.set(ep, c);
    }
    return c;
  }

  /** Moves to another endpoint (after an error, or now and then to spread the load). */
  switchEndpoint(): void {
    if (this.endpoints.length > 1) this.index = (this.index + 1 + this.random.int(this.endpoints.length - 1)) % this.endpoints.length;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Records a failed write-like op: a definite failure only when the request never left the client;
 * otherwise it may have been applied, so the outcome is unknown.
 */
export function recordWriteError(history: History, op: HistoryOp, err: unknown): void {
  if (err instanceof CallError && err.definite) history.fail(op, err.message);
  else history.unknown(op, errorText(err));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function value(buf: Buffer | undefined): string | null {
  return buf === undefined ? null : buf.toString('utf8');
}
