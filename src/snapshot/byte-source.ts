import { closeSync, openSync, readSync, fstatSync } from 'node:fs';

/**
 * Random access to a snapshot's bytes. The bbolt reader asks for one page at a time, so a
 * multi-gigabyte etcd database never has to sit in memory whole.
 */
export interface ByteSource {
  /** Bytes the source may be read in: [0, size). */
  readonly size: number;
  /** Exactly `length` bytes from `offset`; the caller keeps within size. */
  read(offset: number, length: number): Buffer;
  close(): void;
}

export function bufferSource(data: Buffer, size = data.length): ByteSource {
  return {
    size,
    read: (offset, length) => data.subarray(offset, offset + length),
    close: () => undefined,
  };
}

/** A file read with positional reads; `size` may be less than the file (to leave out a trailer). */
export function fileSource(path: string, size?: number): ByteSource {
  const fd = openSync(path, 'r');
  const fileSize = fstatSync(fd).size;
  let open = true;
  return {
    size: size ?? fileSize,
    read: (offset, length) => {
      const buf = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, buf, done, length - done, offset + done);
        if (n === 0) throw new RangeError(`read past the end of ${path} at ${offset + done}`);
        done += n;
      }
      return buf;
    },
    close: () => {
      if (open) closeSync(fd);
      open = false;
    },
  };
}
