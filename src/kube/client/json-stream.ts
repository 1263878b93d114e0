// Splits a watch response body (a chunked stream of JSON objects, one per event, newline
// separated by kube-apiserver but not necessarily aligned with HTTP chunks) into whole objects.
// It tracks brace depth outside strings instead of relying on newlines, so it also reads streams
// of concatenated objects.

import { StringDecoder } from 'node:string_decoder';

export class JsonStreamSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private buffer = '';
  /** Scan state carried across chunks. */
  private depth = 0;
  private inString = false;
  private escaped = false;
  private scanned = 0;
  private start = -1;

  constructor(private readonly maxObjectChars = 64 * 1024 * 1024) {}

  /** Feeds bytes; returns the complete JSON texts they finish, in order. */
  push(chunk: Buffer | string): string[] {
    this.buffer += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const out: string[] = [];
    const buf = this.buffer;
    let i = this.scanned;
    for (; i < buf.length; i++) {
      const ch = buf.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (ch === 0x5c /* \ */) this.escaped = true;
        else if (ch === 0x22 /* " */) this.inString = false;
        continue;
      }
      if (ch === 0x22) {
        this.inString = true;
      } else if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
        if (this.depth === 0) this.start = i;
        this.depth++;
      } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
        this.depth--;
        if (this.depth < 0) throw new Error(`malformed watch stream: unbalanced '${String.fromCharCode(ch)}'`);
        if (this.depth === 0) {
          out.push(buf.slice(this.start, i + 1));
          this.start = -1;
        }
      } else if (this.depth === 0 && ch !== 0x20 && ch !== 0x0a && ch !== 0x0d && ch !== 0x09) {
        throw new Error(`malformed watch stream: unexpected '${String.fromCharCode(ch)}' between objects`);
      }
    }
    // Keep only the unfinished object.
    if (this.depth === 0) {
      this.buffer = '';
      this.scanned = 0;
    } else {
      this.buffer = buf.slice(this.start);
      this.scanned = i - this.start;
      this.start = 0;
      if (this.buffer.length > this.maxObjectChars) throw new Error(`watch event larger than ${this.maxObjectChars} characters`);
    }
    return out;
  }

  /** True when the stream ended between objects (nothing half read). */
  get idle(): boolean {
    return this.depth === 0;
  }
}
