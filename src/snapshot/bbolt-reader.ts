// A read-only reader of bbolt database files (go.etcd.io/bbolt 1.3, the file format etcd 3.4's
// backend and `etcdctl snapshot save` write). The file is an array of fixed-size pages, integers
// little-endian:
//
//   page header (16 bytes)  id u64, flags u16 (branch 0x01, leaf 0x02, meta 0x04, freelist 0x10),
//                           count u16 (elements), overflow u32 (extra pages this one spans)
//   meta (pages 0 and 1)    magic 0xED0CDAED, version 2, page size, flags, root bucket {root page
//                           u64, sequence u64}, freelist page u64 (all ones: not stored), high-water
//                           page u64, txid u64, FNV-1a-64 checksum of the 56 bytes before it
//   branch element          pos u32, ksize u32, child page u64   (pos counts from the element)
//   leaf element            flags u32 (0x01: the value is a nested bucket), pos u32, ksize u32,
//                           vsize u32; the key and value follow at pos
//   nested bucket value     root page u64, sequence u64; root 0 means "inline": a leaf page
//                           (header + elements) follows inside the value itself
//
// Every offset is checked against the page it points into, so a damaged file gives a
// SnapshotError that names the page, never a RangeError or an endless loop.

import type { ByteSource } from './byte-source.js';
import { corrupt, SnapshotError, SnapshotErrorCode } from './snapshot-error.js';

const PAGE_HEADER_BYTES = 16;
const ELEMENT_BYTES = 16;
const BUCKET_HEADER_BYTES = 16;
const META_BYTES = 64;
const META_CHECKSUMMED_BYTES = 56;
const MAGIC = 0xed0cdaed;
const VERSION = 2;

const BRANCH = 0x01;
const LEAF = 0x02;
const META = 0x04;
const FREELIST = 0x10;
const BUCKET_LEAF_FLAG = 0x01;
/** A freelist count of 0xFFFF means the real count is the first u64 of the page body. */
const FREELIST_COUNT_OVERFLOW = 0xffff;
const NO_FREELIST = 0xffff_ffff_ffff_ffffn;
/** Page sizes to try for meta page 1 when meta page 0 is unreadable. */
const FALLBACK_PAGE_SIZES = [4096, 8192, 16384, 65536];

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const U64_MASK = 0xffff_ffff_ffff_ffffn;

export interface BoltMeta {
  readonly pageSize: number;
  readonly rootPage: number;
  /** undefined when the freelist is not stored (bbolt's NoFreelistSync, which etcd 3.4 sets). */
  readonly freelistPage: number | undefined;
  /** Pages in use: the database is pageCount * pageSize bytes (bbolt's Tx.Size). */
  readonly pageCount: number;
  readonly txid: bigint;
}

/** One key of a bucket; `value` is undefined when the key names a nested bucket. */
export interface BoltEntry {
  readonly key: Buffer;
  readonly value: Buffer | undefined;
}

interface Page {
  readonly id: number;
  readonly flags: number;
  readonly count: number;
  readonly overflow: number;
  /** The page's bytes from its header on, overflow pages included. */
  readonly buf: Buffer;
}

interface LeafElement {
  readonly flags: number;
  readonly key: Buffer;
  readonly value: Buffer;
}

/** Where a bucket's tree starts: a page, or a leaf page stored inside its parent's value. */
type BucketRef = { readonly root: number; readonly inline?: undefined } | { readonly root: 0; readonly inline: Buffer };

function fnv1a64(bytes: Buffer): bigint {
  let h = FNV_OFFSET;
  for (const b of bytes) h = ((h ^ BigInt(b)) * FNV_PRIME) & U64_MASK;
  return h;
}

function pageType(flags: number): string {
  if (flags === BRANCH) return 'branch';
  if (flags === LEAF) return 'leaf';
  if (flags === META) return 'meta';
  if (flags === FREELIST) return 'freelist';
  return `unknown<${flags.toString(16).padStart(2, '0')}>`;
}

/** A u64 that must be a safe integer (page ids are far below 2^53 in any real file). */
function safeU64(buf: Buffer, offset: number, what: string): number {
  const v = buf.readBigUInt64LE(offset);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`${what} ${v} is out of range`);
  return Number(v);
}

/** Parses and validates one meta page body; a string (the reason) when it is not valid. */
function parseMeta(body: Buffer): BoltMeta | string {
  if (body.length < META_BYTES) return 'the file is too short for a meta page';
  if (body.readUInt32LE(0) !== MAGIC) return 'bad magic';
  const version = body.readUInt32LE(4);
  if (version !== VERSION) return `unsupported version ${version}`;
  if (fnv1a64(body.subarray(0, META_CHECKSUMMED_BYTES)) !== body.readBigUInt64LE(META_CHECKSUMMED_BYTES)) {
    return 'checksum mismatch';
  }
  const pageSize = body.readUInt32LE(8);
  if (pageSize < 1024 || pageSize > 1 << 20 || (pageSize & (pageSize - 1)) !== 0) return `bad page size ${pageSize}`;
  const rawFreelist = body.readBigUInt64LE(32);
  try {
    const rootPage = safeU64(body, 16, 'root page');
    const pageCount = safeU64(body, 40, 'page count');
    const freelistPage = rawFreelist === NO_FREELIST ? undefined : safeU64(body, 32, 'freelist page');
    if (pageCount < 3) return `page count ${pageCount} is too small`;
    if (rootPage < 2 || rootPage >= pageCount) return `root page ${rootPage} is outside [2, ${pageCount})`;
    if (freelistPage !== undefined && (freelistPage < 2 || freelistPage >= pageCount)) {
      return `freelist page ${freelistPage} is outside [2, ${pageCount})`;
    }
    return { pageSize, rootPage, freelistPage, pageCount, txid: body.readBigUInt64LE(48) };
  } catch (err) {
    return (err as Error).message;
  }
}

/** True when the bytes at offset 16 look like a bbolt meta page (format detection). */
export function looksLikeBolt(head: Buffer): boolean {
  return head.length >= PAGE_HEADER_BYTES + 4 && head.readUInt32LE(PAGE_HEADER_BYTES) === MAGIC;
}

export class BoltReader {
  private constructor(
    private readonly source: ByteSource,
    readonly meta: BoltMeta,
  ) {}

  /**
   * Reads both meta pages and uses the valid one with the higher txid, as bbolt does. Fails with
   * Truncated when the source is shorter than the database the meta page describes.
   */
  static open(source: ByteSource): BoltReader {
    const readMeta = (pageOffset: number): BoltMeta | string => {
      if (pageOffset + PAGE_HEADER_BYTES + META_BYTES > source.size) return 'the file ends before it';
      const header = source.read(pageOffset, PAGE_HEADER_BYTES + META_BYTES);
      if ((header.readUInt16LE(8) & META) === 0) return `page flags ${header.readUInt16LE(8)} are not meta`;
      return parseMeta(header.subarray(PAGE_HEADER_BYTES));
    };
    const meta0 = readMeta(0);
    // The page size is in the meta page itself; without a readable meta 0, try the usual sizes.
    let meta1: BoltMeta | string | undefined;
    for (const size of typeof meta0 === 'string' ? FALLBACK_PAGE_SIZES : [meta0.pageSize]) {
      const found = readMeta(size);
      if (typeof found !== 'string') {
        meta1 = found;
        break;
      }
      meta1 ??= found; // the first reason is the telling one
    }
    meta1 ??= 'not read';
    let meta: BoltMeta;
    if (typeof meta0 !== 'string' && typeof meta1 !== 'string') meta = meta1.txid > meta0.txid ? meta1 : meta0;
    else if (typeof meta0 !== 'string') meta = meta0;
    else if (typeof meta1 !== 'string') meta = meta1;
    else throw corrupt(`not a valid bbolt database: meta page 0: ${meta0}; meta page 1: ${meta1}`);
    const needed = meta.pageCount * meta.pageSize;
    if (needed > source.size) {
      throw new SnapshotError(
        SnapshotErrorCode.Truncated,
        `the database is truncated: its meta page describes ${meta.pageCount} pages of ${meta.pageSize} bytes ` +
          `(${needed} bytes) but only ${source.size} bytes are there`,
      );
    }
    return new BoltReader(source, meta);
  }

  /** bbolt's Tx.Size: the bytes the database occupies (what etcdctl snapshot status prints as total size). */
  get dataSize(): number {
    return this.meta.pageCount * this.meta.pageSize;
  }

  /** The top-level keys (bucket names, for etcd) in key order. */
  rootEntries(): BoltEntry[] {
    return [...this.entries({ root: this.meta.rootPage })];
  }

  /** The entries of a top-level bucket in key order; undefined when there is no such bucket. */
  bucket(name: string): Iterable<BoltEntry> | undefined {
    const wanted = Buffer.from(name, 'latin1');
    for (const el of this.elements({ root: this.meta.rootPage })) {
      if (!el.key.equals(wanted)) continue;
      if ((el.flags & BUCKET_LEAF_FLAG) === 0) throw corrupt(`top-level key ${JSON.stringify(name)} is not a bucket`);
      const ref = this.bucketRef(el.value, name);
      return { [Symbol.iterator]: () => this.entries(ref) };
    }
    return undefined;
  }

  /**
   * bbolt's Tx.Check, which etcdctl snapshot status runs first: every page below the high-water
   * mark is referenced once (by the meta, the freelist or a bucket tree) or is free, never both;
   * tree pages are branch or leaf pages. Returns the problems found (empty when sound).
   */
  check(): string[] {
    const errors: string[] = [];
    const freed = new Set<number>();
    const reachable = new Set<number>([0, 1]);
    const { freelistPage, pageCount } = this.meta;
    try {
      if (freelistPage !== undefined) {
        const p = this.page(freelistPage);
        if (p.flags !== FREELIST) throw corrupt(`page ${freelistPage}: freelist page has type ${pageType(p.flags)}`);
        for (const id of this.freelistIds(p)) {
          if (freed.has(id)) errors.push(`page ${id}: already freed`);
          freed.add(id);
        }
        for (let i = 0; i <= p.overflow; i++) reachable.add(freelistPage + i);
      }
      const onPage = (p: Page): void => {
        for (let i = 0; i <= p.overflow; i++) {
          if (reachable.has(p.id + i)) errors.push(`page ${p.id + i}: multiple references`);
          reachable.add(p.id + i);
        }
        if (freed.has(p.id)) errors.push(`page ${p.id}: reachable freed`);
      };
      this.forEachTree(onPage);
    } catch (err) {
      if (!(err instanceof SnapshotError)) throw err;
      errors.push(err.message);
      return errors;
    }
    // Without a stored freelist bbolt derives it as "every page not reachable", so nothing is lost.
    if (freelistPage !== undefined) {
      for (let id = 0; id < pageCount; id++) {
        if (!reachable.has(id) && !freed.has(id)) errors.push(`page ${id}: unreachable unfreed`);
      }
    }
    return errors;
  }

  /** How the trees are built: the reachable branch and leaf pages, overflow pages, inline buckets (diagnostics). */
  pageStats(): { branchPages: number[]; leafPages: number[]; overflowPages: number; inlineBuckets: number } {
    const stats = { branchPages: [] as number[], leafPages: [] as number[], overflowPages: 0, inlineBuckets: 0 };
    const onPage = (p: Page): void => {
      if (p.flags === BRANCH) stats.branchPages.push(p.id);
      if (p.flags === LEAF) stats.leafPages.push(p.id);
      stats.overflowPages += p.overflow;
    };
    this.forEachTree(onPage, (ref) => {
      if (ref.inline !== undefined) stats.inlineBuckets++;
    });
    return stats;
  }

  /**
   * Walks the root bucket's tree and every nested bucket's, each page passed to onPage. A pending
   * list, not recursion, and each root page once: a damaged bucket header can point back at a tree
   * already walked (its own parent's), which would otherwise loop until the stack overflows.
   */
  private forEachTree(onPage: (p: Page) => void, onTree?: (ref: BucketRef) => void): void {
    const roots = new Set<number>();
    const pending: BucketRef[] = [{ root: this.meta.rootPage }];
    for (let ref = pending.pop(); ref !== undefined; ref = pending.pop()) {
      if (ref.inline === undefined) {
        if (roots.has(ref.root)) throw corrupt(`page ${ref.root}: root of more than one bucket`);
        roots.add(ref.root);
      }
      onTree?.(ref);
      for (const el of this.elements(ref, onPage)) {
        if ((el.flags & BUCKET_LEAF_FLAG) !== 0) pending.push(this.bucketRef(el.value, el.key.toString('latin1')));
      }
    }
  }

  private *entries(ref: BucketRef): Generator<BoltEntry> {
    for (const el of this.elements(ref)) {
      yield { key: el.key, value: (el.flags & BUCKET_LEAF_FLAG) !== 0 ? undefined : el.value };
    }
  }

  private bucketRef(value: Buffer, name: string): BucketRef {
    if (value.length < BUCKET_HEADER_BYTES) throw corrupt(`bucket ${JSON.stringify(name)}: header is ${value.length} bytes`);
    const root = safeU64(value, 0, `bucket ${JSON.stringify(name)} root page`);
    if (root === 0) return { root: 0, inline: value.subarray(BUCKET_HEADER_BYTES) };
    if (root < 2 || root >= this.meta.pageCount) {
      throw corrupt(`bucket ${JSON.stringify(name)}: root page ${root} is outside [2, ${this.meta.pageCount})`);
    }
    return { root };
  }

  /**
   * The leaf elements of a tree in key order (depth first, an explicit stack so a deep or looping
   * damaged tree cannot overflow ours). Keys must strictly increase.
   */
  private *elements(ref: BucketRef, onPage?: (p: Page) => void): Generator<LeafElement> {
    let prev: Buffer | undefined;
    const inOrder = function* (els: Iterable<LeafElement>, where: string): Generator<LeafElement> {
      for (const el of els) {
        if (prev !== undefined && Buffer.compare(prev, el.key) >= 0) throw corrupt(`${where}: keys out of order`);
        prev = el.key;
        yield el;
      }
    };
    if (ref.inline !== undefined) {
      const p = inlinePage(ref.inline);
      yield* inOrder(leafElements(p, 'inline bucket'), 'inline bucket');
      return;
    }
    const seen = new Set<number>();
    const stack: Array<{ page: Page; next: number }> = [];
    const enter = (id: number, from: string): void => {
      if (seen.has(id)) throw corrupt(`page ${id}: referenced twice in one tree (from ${from})`);
      seen.add(id);
      const page = this.page(id);
      onPage?.(page);
      if (page.flags !== BRANCH && page.flags !== LEAF) throw corrupt(`page ${id}: invalid type: ${pageType(page.flags)}`);
      stack.push({ page, next: 0 });
    };
    enter(ref.root, 'bucket root');
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { page: Page; next: number };
      if (top.page.flags === LEAF) {
        stack.pop();
        yield* inOrder(leafElements(top.page, `page ${top.page.id}`), `page ${top.page.id}`);
      } else if (top.next >= top.page.count) {
        stack.pop();
      } else {
        const child = branchChild(top.page, top.next++, this.meta.pageCount);
        enter(child, `branch page ${top.page.id}`);
      }
    }
  }

  private page(id: number): Page {
    const { pageSize, pageCount } = this.meta;
    if (id >= pageCount) throw corrupt(`page ${id}: out of bounds: ${pageCount}`);
    const first = this.source.read(id * pageSize, pageSize);
    const selfId = first.readBigUInt64LE(0);
    if (selfId !== BigInt(id)) throw corrupt(`page ${id}: the page says it is page ${selfId}`);
    const overflow = first.readUInt32LE(12);
    if (id + overflow >= pageCount) throw corrupt(`page ${id}: ${overflow} overflow pages run past the end (${pageCount})`);
    const buf = overflow === 0 ? first : this.source.read(id * pageSize, (overflow + 1) * pageSize);
    return { id, flags: first.readUInt16LE(8), count: first.readUInt16LE(10), overflow, buf };
  }

  private *freelistIds(p: Page): Generator<number> {
    let count = p.count;
    let at = PAGE_HEADER_BYTES;
    if (count === FREELIST_COUNT_OVERFLOW) {
      count = safeU64(p.buf, at, `page ${p.id}: freelist count`);
      at += 8;
    }
    if (at + count * 8 > p.buf.length) throw corrupt(`page ${p.id}: freelist of ${count} ids does not fit its page`);
    for (let i = 0; i < count; i++) yield safeU64(p.buf, at + i * 8, `page ${p.id}: free page id`);
  }
}

function inlinePage(buf: Buffer): Page {
  if (buf.length < PAGE_HEADER_BYTES) throw corrupt(`inline bucket: page of ${buf.length} bytes`);
  return { id: 0, flags: buf.readUInt16LE(8), count: buf.readUInt16LE(10), overflow: 0, buf };
}

function leafElements(p: Page, where: string): LeafElement[] {
  if (p.flags !== LEAF) throw corrupt(`${where}: expected a leaf page, found ${pageType(p.flags)}`);
  if (PAGE_HEADER_BYTES + p.count * ELEMENT_BYTES > p.buf.length) {
    throw corrupt(`${where}: ${p.count} elements do not fit the page`);
  }
  const out: LeafElement[] = [];
  for (let i = 0; i < p.count; i++) {
    const at = PAGE_HEADER_BYTES + i * ELEMENT_BYTES;
    const flags = p.buf.readUInt32LE(at);
    const pos = p.buf.readUInt32LE(at + 4);
    const ksize = p.buf.readUInt32LE(at + 8);
    const vsize = p.buf.readUInt32LE(at + 12);
    const keyStart = at + pos;
    const end = keyStart + ksize + vsize;
    if (end > p.buf.length) throw corrupt(`${where}: element ${i} (${ksize}+${vsize} bytes at ${keyStart}) runs past the page`);
    out.push({ flags, key: p.buf.subarray(keyStart, keyStart + ksize), value: p.buf.subarray(keyStart + ksize, end) });
  }
  return out;
}

function branchChild(p: Page, i: number, pageCount: number): number {
  const at = PAGE_HEADER_BYTES + i * ELEMENT_BYTES;
  if (at + ELEMENT_BYTES > p.buf.length) throw corrupt(`page ${p.id}: branch element ${i} does not fit the page`);
  const child = safeU64(p.buf, at + 8, `page ${p.id}: child page`);
  if (child < 2 || child >= pageCount) throw corrupt(`page ${p.id}: child page ${child} is outside [2, ${pageCount})`);
  return child;
}
