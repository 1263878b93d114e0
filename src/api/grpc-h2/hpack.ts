import hpackJs from 'hpack.js';

/**
 * HPACK (RFC 7541) for the gRPC server: a decoder with the static and dynamic tables and Huffman
 * strings, and an encoder that only emits literals "without indexing" (our response headers and
 * trailers are few and fixed, so keeping no encoder-side dynamic table costs a few bytes and no
 * state). Our own decoder rather than hpack.js's because hpack.js decodes bit by bit through
 * readable-stream objects; here an indexed header is one array lookup. hpack.js only supplies the
 * Huffman code table (RFC 7541 Appendix B), so it is not typed in by hand.
 */

export class HpackError extends Error {}

/** A decoded header field (names are lower-case on the wire for HTTP/2). */
export type HeaderField = [name: string, value: string];

const STATIC_TABLE: readonly HeaderField[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];

/** Each entry costs its name and value lengths plus 32 bytes (RFC 7541 4.1). */
const ENTRY_OVERHEAD = 32;

// ---- Huffman decoding: a binary tree in a flat array, built once from the code table.
// node*2 and node*2+1 hold the children for bit 0 and 1: >= 0 another node, -1 - sym a leaf.
const huffmanCodes = (hpackJs as unknown as { huffman: { encode: [bits: number, code: number][] } }).huffman.encode;
const tree: number[] = [0, 0];
let nodeCount = 1;
for (let sym = 0; sym < huffmanCodes.length; sym++) {
  const [bits, code] = huffmanCodes[sym] as [number, number];
  let node = 0;
  for (let i = bits - 1; i >= 0; i--) {
    const slot = node * 2 + (Math.floor(code / 2 ** i) & 1);
    if (i === 0) tree[slot] = -1 - sym;
    else {
      if (tree[slot] === 0) {
        tree[slot] = nodeCount++;
        tree.push(0, 0);
      }
      node = tree[slot] as number;
    }
  }
}
const HUFFMAN_TREE = Int32Array.from(tree);
const EOS = 256;

function huffmanDecode(buf: Buffer, start: number, end: number): string {
  const out: number[] = [];
  let node = 0;
  // Bits since the last complete symbol, all ones so far: what may be left over as padding.
  let pendingBits = 0;
  let pendingAllOnes = true;
  for (let i = start; i < end; i++) {
    const byte = buf[i] as number;
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >> b) & 1;
      const next = HUFFMAN_TREE[node * 2 + bit] as number;
      pendingBits++;
      if (bit === 0) pendingAllOnes = false;
      if (next < 0) {
        const sym = -1 - next;
        if (sym === EOS) throw new HpackError('Huffman string contains EOS');
        out.push(sym);
        node = 0;
        pendingBits = 0;
        pendingAllOnes = true;
      } else if (next === 0) {
        throw new HpackError('invalid Huffman code');
      } else node = next;
    }
  }
  if (pendingBits > 7 || !pendingAllOnes) throw new HpackError('invalid Huffman padding');
  return Buffer.from(out).toString('latin1');
}

/** Decodes header blocks of one connection (the dynamic table lives as long as the connection). */
export class HpackDecoder {
  /** Newest first. */
  private dynamic: HeaderField[] = [];
  /** Recently decoded Huffman strings, newest first (huffmanRecent). */
  private readonly recent: { bytes: Buffer; value: string }[] = [];
  private dynamicSize = 0;
  private maxSize: number;
  /** decode's read position in the block (readInt and readString move it). */
  private at = 0;

  /** settingsMaxSize: our SETTINGS_HEADER_TABLE_SIZE, the most the peer may ask for. */
  constructor(private readonly settingsMaxSize = 4096) {
    this.maxSize = settingsMaxSize;
  }

  /**
   * Decodes one complete header block. Throws HpackError on malformed input (a connection error
   * COMPRESSION_ERROR), or when the decoded list exceeds maxListSize (counted as RFC 9113's
   * SETTINGS_MAX_HEADER_LIST_SIZE does).
   */
  decode(block: Buffer, maxListSize: number): HeaderField[] {
    const fields: HeaderField[] = [];
    let listSize = 0;
    this.at = 0;
    let sawField = false;
    while (this.at < block.length) {
      const b = block[this.at] as number;
      let field: HeaderField;
      if (b & 0x80) {
        field = this.lookup(this.readInt(block, 7));
      } else if ((b & 0xe0) === 0x20) {
        if (sawField) throw new HpackError('dynamic table size update after a header field');
        const size = this.readInt(block, 5);
        if (size > this.settingsMaxSize) throw new HpackError('dynamic table size update above the limit');
        this.maxSize = size;
        this.evict(0);
        continue;
      } else {
        const incremental = (b & 0x40) !== 0;
        const index = this.readInt(block, incremental ? 6 : 4);
        const name = index === 0 ? this.readString(block) : (this.lookup(index) as HeaderField)[0];
        field = [name, this.readString(block)];
        if (incremental) this.add(field);
      }
      sawField = true;
      listSize += field[0].length + field[1].length + ENTRY_OVERHEAD;
      if (listSize > maxListSize) throw new HeaderListTooLarge();
      fields.push(field);
    }
    return fields;
  }

  private lookup(index: number): HeaderField {
    if (index === 0) throw new HpackError('header index 0');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1] as HeaderField;
    const field = this.dynamic[index - STATIC_TABLE.length - 1];
    if (field === undefined) throw new HpackError(`header index ${index} is not in the table`);
    return field;
  }

  private add(field: HeaderField): void {
    const size = field[0].length + field[1].length + ENTRY_OVERHEAD;
    this.evict(size);
    // An entry larger than the whole table empties it and is not added (RFC 7541 4.4).
    if (size > this.maxSize) return;
    this.dynamic.unshift(field);
    this.dynamicSize += size;
  }

  private evict(room: number): void {
    while (this.dynamic.length > 0 && this.dynamicSize + room > this.maxSize) {
      const old = this.dynamic.pop() as HeaderField;
      this.dynamicSize -= old[0].length + old[1].length + ENTRY_OVERHEAD;
    }
  }

  /** An integer with a prefixBits-bit prefix at this.at; moves this.at past it (no tuple per field). */
  private readInt(buf: Buffer, prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    let pos = this.at;
    let value = (buf[pos] as number) & mask;
    pos++;
    this.at = pos;
    if (value < mask) return value;
    let scale = 1;
    for (;;) {
      if (pos >= buf.length) throw new HpackError('truncated integer');
      const b = buf[pos++] as number;
      value += (b & 0x7f) * scale;
      scale *= 128;
      if (value > 0x7fffffff) throw new HpackError('integer too large');
      if ((b & 0x80) === 0) {
        this.at = pos;
        return value;
      }
    }
  }

  /** A string literal at this.at; moves this.at past it. */
  private readString(buf: Buffer): string {
    if (this.at >= buf.length) throw new HpackError('truncated string');
    const huffman = ((buf[this.at] as number) & 0x80) !== 0;
    const len = this.readInt(buf, 7);
    const start = this.at;
    const end = start + len;
    if (end > buf.length) throw new HpackError('truncated string');
    this.at = end;
    return huffman ? this.huffmanRecent(buf, start, end) : buf.toString('latin1', start, end);
  }

  /**
   * huffmanDecode through a few recent results: clients send the same literals on every request
   * without indexing them (nghttp2 never indexes :path), and decoding one bit at a time into a new
   * string each time was a large share of a put's allocation.
   */
  private huffmanRecent(buf: Buffer, start: number, end: number): string {
    const n = end - start;
    if (n > RECENT_MAX_BYTES) return huffmanDecode(buf, start, end);
    for (const r of this.recent) {
      if (r.bytes.length === n && buf.compare(r.bytes, 0, n, start, end) === 0) return r.value;
    }
    const value = huffmanDecode(buf, start, end);
    const bytes = Buffer.allocUnsafeSlow(n);
    buf.copy(bytes, 0, start, end);
    if (this.recent.length === RECENT_COUNT) this.recent.pop();
    this.recent.unshift({ bytes, value });
    return value;
  }
}

/** How many decoded Huffman strings a decoder remembers, and up to what encoded length. */
const RECENT_COUNT = 8;
const RECENT_MAX_BYTES = 128;

/** The decoded header list is larger than our SETTINGS_MAX_HEADER_LIST_SIZE (a stream error, not a connection one). */
export class HeaderListTooLarge extends Error {}

// ---- Encoding.

function encodeInt(out: number[], firstByteFlags: number, prefixBits: number, value: number): void {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out.push(firstByteFlags | value);
    return;
  }
  out.push(firstByteFlags | mask);
  let rest = value - mask;
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
}

/**
 * Encodes header fields as literals without indexing (0000 prefix), names as static-table indexes
 * where one exists, values raw (no Huffman). Values are latin1 bytes, as HTTP/2 fields are.
 */
export function encodeHeaders(fields: readonly HeaderField[]): Buffer {
  const out: number[] = [];
  const strings: Buffer[] = [];
  for (const [name, value] of fields) {
    const exact = STATIC_INDEX.get(`${name}\0${value}`);
    if (exact !== undefined) {
      encodeInt(out, 0x80, 7, exact);
      continue;
    }
    const nameIndex = STATIC_NAME_INDEX.get(name);
    if (nameIndex !== undefined) encodeInt(out, 0x00, 4, nameIndex);
    else {
      out.push(0x00);
      encodeInt(out, 0x00, 7, name.length);
      for (let i = 0; i < name.length; i++) out.push(name.charCodeAt(i) & 0xff);
    }
    const v = Buffer.from(value, 'latin1');
    encodeInt(out, 0x00, 7, v.length);
    if (v.length < 64) for (const byte of v) out.push(byte);
    else {
      strings.push(Buffer.from(out), v);
      out.length = 0;
    }
  }
  if (strings.length === 0) return Buffer.from(out);
  strings.push(Buffer.from(out));
  return Buffer.concat(strings);
}

const STATIC_INDEX = new Map<string, number>();
const STATIC_NAME_INDEX = new Map<string, number>();
STATIC_TABLE.forEach(([name, value], i) => {
  if (value !== '') STATIC_INDEX.set(`${name}\0${value}`, i + 1);
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, i + 1);
});
