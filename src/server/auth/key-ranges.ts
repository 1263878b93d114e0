/**
 * Key intervals for permission checks, with etcd's meaning of a permission's range_end: empty is the
 * key alone, "\0" is every key from `key` on, anything else is [key, range_end). A range request is
 * allowed when the union of the user's intervals covers all of it (etcd's interval tree Contains);
 * a single key when some interval holds it.
 */
export interface KeyInterval {
  begin: Buffer;
  /** Exclusive; undefined: no upper bound. */
  end: Buffer | undefined;
}

const ZERO = Buffer.from([0]);

function isFromKey(rangeEnd: Buffer): boolean {
  return rangeEnd.length === 1 && rangeEnd[0] === 0;
}

export function permissionInterval(key: Buffer, rangeEnd: Buffer): KeyInterval {
  if (rangeEnd.length === 0) return { begin: key, end: Buffer.concat([key, ZERO]) }; // the key's successor
  return { begin: key, end: isFromKey(rangeEnd) ? undefined : rangeEnd };
}

export function coversKey(intervals: readonly KeyInterval[], key: Buffer): boolean {
  return intervals.some((iv) => Buffer.compare(iv.begin, key) <= 0 && (iv.end === undefined || Buffer.compare(key, iv.end) < 0));
}

/** Whether the intervals together cover [key, rangeEnd) ("\0": [key, infinity)). */
export function coversRange(intervals: readonly KeyInterval[], key: Buffer, rangeEnd: Buffer): boolean {
  const end = isFromKey(rangeEnd) ? undefined : rangeEnd;
  if (end !== undefined && Buffer.compare(end, key) <= 0) return coversKey(intervals, key);
  const sorted = [...intervals].sort((a, b) => Buffer.compare(a.begin, b.begin));
  let covered = key; // everything below `covered` (from key on) is covered so far
  for (const iv of sorted) {
    if (Buffer.compare(iv.begin, covered) > 0) return false; // a gap no later interval can fill
    if (iv.end === undefined) return true;
    if (Buffer.compare(iv.end, covered) > 0) covered = iv.end;
    if (end !== undefined && Buffer.compare(covered, end) >= 0) return true;
  }
  return false;
}
