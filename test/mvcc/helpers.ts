// Request builders and readable views of responses for the MVCC tests. Keys and values are written
// as latin1 strings, so any byte (including 0x00 and 0xff) is one character.

import { MvccError, type MvccErrorCode } from '../../src/mvcc/types.js';
import type {
  Compare,
  CompareResult,
  CompareTarget,
  DeleteRangeRequest,
  Event,
  KeyValue,
  PutRequest,
  RangeRequest,
  RequestOp,
  StorageOp,
  TxnRequest,
} from '../../src/mvcc/types.js';

export const b = (s: string): Buffer => Buffer.from(s, 'latin1');
export const s = (buf: Buffer): string => buf.toString('latin1');

/** The range end that makes [key, end) cover every key starting with `prefix`. */
export function prefixEnd(prefix: string): string {
  const bytes = b(prefix);
  for (let i = bytes.length - 1; i >= 0; i--) {
    if ((bytes[i] as number) < 0xff) {
      const end = Buffer.from(bytes.subarray(0, i + 1));
      end[i] = (end[i] as number) + 1;
      return s(end);
    }
  }
  return '\0';
}

export function rangeReq(key: string, opts: Partial<Omit<RangeRequest, 'key' | 'rangeEnd'>> & { end?: string } = {}): RangeRequest {
  const { end, ...rest } = opts;
  return {
    key: b(key),
    rangeEnd: b(end ?? ''),
    limit: 0,
    revision: 0,
    sortOrder: 'NONE',
    sortTarget: 'KEY',
    keysOnly: false,
    countOnly: false,
    minModRevision: 0,
    maxModRevision: 0,
    minCreateRevision: 0,
    maxCreateRevision: 0,
    ...rest,
  };
}

export function putReq(key: string, value: string, opts: Partial<Omit<PutRequest, 'key' | 'value'>> = {}): PutRequest {
  return { key: b(key), value: b(value), lease: '0', prevKv: false, ignoreValue: false, ignoreLease: false, ...opts };
}

export function delReq(key: string, end = '', prevKv = false): DeleteRangeRequest {
  return { key: b(key), rangeEnd: b(end), prevKv };
}

export function cmp(
  key: string,
  target: CompareTarget,
  result: CompareResult,
  operand: number | string,
  end = '',
): Compare {
  return {
    key: b(key),
    rangeEnd: b(end),
    target,
    result,
    version: target === 'VERSION' ? (operand as number) : 0,
    createRevision: target === 'CREATE' ? (operand as number) : 0,
    modRevision: target === 'MOD' ? (operand as number) : 0,
    value: target === 'VALUE' ? b(operand as string) : Buffer.alloc(0),
    lease: target === 'LEASE' ? String(operand) : '0',
  };
}

export function txnReq(compare: Compare[], success: RequestOp[], failure: RequestOp[] = []): TxnRequest {
  return { compare, success, failure };
}

/** A KeyValue as one readable line: key@create/mod/vVersion=value[lease]. */
export function kvLine(kv: KeyValue | undefined): string {
  if (kv === undefined) return '-';
  const lease = kv.lease === '0' ? '' : ` lease=${kv.lease}`;
  return `${s(kv.key)}@${kv.createRevision}/${kv.modRevision}/v${kv.version}=${s(kv.value)}${lease}`;
}

export function eventLine(e: Event): string {
  return `${e.type} ${kvLine(e.kv)} prev=${kvLine(e.prevKv)}`;
}

/** The error code a call throws (fails the test if it does not throw an MvccError). */
export function errorCode(f: () => unknown): MvccErrorCode {
  try {
    f();
  } catch (err) {
    if (err instanceof MvccError) return err.code;
    throw err;
  }
  throw new Error('expected an MvccError, but the call succeeded');
}

/** A LevelDB stand-in: applies batches, yields records in key order. */
export class SortedRecords {
  private readonly data = new Map<string, Buffer>();

  apply(ops: readonly StorageOp[]): void {
    for (const op of ops) {
      if (op.type === 'put') this.data.set(s(op.key), Buffer.from(op.value));
      else this.data.delete(s(op.key));
    }
  }

  records(): Array<[Buffer, Buffer]> {
    return [...this.data.keys()].sort().map((k) => [b(k), this.data.get(k) as Buffer]);
  }

  get size(): number {
    return this.data.size;
  }
}
