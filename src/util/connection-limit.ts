/**
 * How many connections a listener holds at once (--experimental-max-client-connections for the
 * client URLs, --experimental-max-peer-connections for the peer URLs). Pure counting (no sockets, no
 * timers), so it is tested alone; a listener acquires a slot per accepted connection and releases
 * it when the socket closes.
 */

/** Frees one slot; calling it again does nothing, so a socket's 'close' and 'error' paths can both call it. */
export type ConnectionRelease = () => void;

export class ConnectionLimit {
  /** Slots held now. Invariant: 0 <= open, and open <= maxConnections unless maxConnections is 0. */
  private openCount = 0;
  /** Connections refused because every slot was held, since start (a Prometheus counter). */
  private refusedCount = 0;

  /** @param maxConnections the most connections held at once; 0 means no limit. */
  constructor(readonly maxConnections: number) {
    if (!Number.isSafeInteger(maxConnections) || maxConnections < 0) {
      throw new RangeError(`maxConnections must be an integer >= 0, got ${maxConnections}`);
    }
  }

  get open(): number {
    return this.openCount;
  }

  get refusedTotal(): number {
    return this.refusedCount;
  }

  /** A slot for a new connection, or undefined (counted as refused) when all are held. */
  tryAcquire(): ConnectionRelease | undefined {
    if (this.maxConnections !== 0 && this.openCount >= this.maxConnections) {
      this.refusedCount++;
      return undefined;
    }
    this.openCount++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.openCount--;
    };
  }
}
