/**
 * Runs async jobs one at a time in call order. LevelDB runs each write on libuv's thread pool, so two
 * writes in flight at once may reach the disk in either order; a lane restores the order the caller
 * issued them in.
 */
export class SerialLane {
  private tail: Promise<unknown> = Promise.resolve();
  private issued = 0;

  run<T>(job: () => Promise<T>): Promise<T> {
    this.issued++;
    const result = this.tail.then(job);
    // A failed job must not stall the jobs queued after it; its caller sees the failure.
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** How many jobs were ever queued: unchanged since a job was queued means it is still the last. */
  get queued(): number {
    return this.issued;
  }

  /** Resolves once every job queued so far has finished. */
  async drain(): Promise<void> {
    await this.tail;
  }
}
