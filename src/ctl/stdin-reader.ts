// Standard input for txn scripts, interactive watch and `put KEY` (value from stdin).

import type { Readable } from "node:stream";

export class StdinReader {
  private buffered = "";
  private ended = false;
  private waiting: (() => void) | undefined;
  private started = false;

  constructor(private readonly input: Readable) {}

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.input.setEncoding("utf8");
    this.input.on("data", (chunk: string) => {
      this.buffered += chunk;
      this.wake();
    });
    this.input.on("end", () => {
      this.ended = true;
      this.wake();
    });
    this.input.on("error", () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }

  /** The next line with its "\n"; a last line without one comes back as it is; null at the end. */
  async readLine(): Promise<string | null> {
    this.start();
    for (;;) {
      const newline = this.buffered.indexOf("\n");
      if (newline !== -1) {
        const line = this.buffered.slice(0, newline + 1);
        this.buffered = this.buffered.slice(newline + 1);
        return line;
      }
      if (this.ended) {
        if (this.buffered === "") return null;
        const line = this.buffered;
        this.buffered = "";
        return line;
      }
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }

  /** Everything up to the end of input, as bytes. */
  async readAll(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.input) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
    return Buffer.concat(chunks);
  }
}
