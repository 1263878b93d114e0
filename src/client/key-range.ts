// Key and range helpers with clientv3's meanings (GetPrefixRangeEnd, WithFromKey).

/** A UTF-8 string as the Buffer that bytes fields need (a Buffer is returned as it is). */
export function bytes(value: string | Buffer): Buffer {
  return typeof value === "string" ? Buffer.from(value, "utf8") : value;
}

/**
 * The range end that selects every key starting with `prefix`: the prefix with its last byte
 * below 0xff incremented and everything after it dropped. A prefix of only 0xff bytes (or empty)
 * has no such key, so the end is "\0", which etcd reads as "to the end of the key space".
 */
export function prefixEnd(prefix: Buffer): Buffer {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i] as number;
    if (byte < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = byte + 1;
      return end;
    }
  }
  return fromKeyEnd();
}

/** The range end "\0": every key >= the key. */
export function fromKeyEnd(): Buffer {
  return Buffer.from([0]);
}
