// Keys and values live inside the store as latin1 strings: one char per byte, so string order is
// byte order and V8 keeps them as compact one-byte strings the GC can move (small Buffers would
// pin 8 KiB pool slabs). These are the conversions on the hot path; Node's latin1Slice and
// latin1Write skip the encoding lookup that toString('latin1') and write(s, 'latin1') do first.

interface Latin1Methods {
  latin1Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number, length: number): number;
}

const direct =
  typeof (Buffer.prototype as unknown as Partial<Latin1Methods>).latin1Slice === 'function' &&
  typeof (Buffer.prototype as unknown as Partial<Latin1Methods>).latin1Write === 'function';

/** The bytes as a latin1 string. */
export function toLatin1(buf: Buffer, start = 0, end = buf.length): string {
  return direct ? (buf as unknown as Latin1Methods).latin1Slice(start, end) : buf.toString('latin1', start, end);
}

/** Writes a latin1 string's bytes at `offset`; returns the number of bytes written. */
export function writeLatin1(buf: Buffer, s: string, offset: number): number {
  return direct ? (buf as unknown as Latin1Methods).latin1Write(s, offset, s.length) : buf.write(s, offset, s.length, 'latin1');
}

/** A new Buffer holding a latin1 string's bytes. */
export function fromLatin1(s: string): Buffer {
  const buf = Buffer.allocUnsafe(s.length);
  writeLatin1(buf, s, 0);
  return buf;
}
