// Turns a failed request into etcdctl's error line and exit code.

import { CtlError, ExitCode } from "./exit-codes.js";

/** Awaits `request`; a failure becomes CtlError(code, wrap(message)). */
export async function rpc<T>(request: Promise<T>, code: number = ExitCode.error, wrap: (message: string) => string = (m) => m): Promise<T> {
  try {
    return await request;
  } catch (error) {
    if (error instanceof CtlError) throw error;
    throw new CtlError(code, wrap(error instanceof Error ? error.message : String(error)));
  }
}

/** A key or range end from the command line: the argument's bytes. */
export function bytesOf(text: string): Buffer {
  return Buffer.from(text, "utf8");
}

/** clientv3's GetPrefixRangeEnd: the smallest key above every key with this prefix ("\0" if none). */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i] as number;
    if (byte < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = byte + 1;
      return end;
    }
  }
  return Buffer.from([0]);
}

/** Go's strconv.ParseInt(text, 16, 64) as etcdctl parses lease IDs. */
export function parseHexInt64(text: string): string {
  const syntax = `strconv.ParseInt: parsing ${JSON.stringify(text)}: invalid syntax`;
  const match = /^([+-]?)([0-9a-fA-F]+)$/.exec(text);
  if (match === null) throw new Error(syntax);
  let value = BigInt(`0x${match[2] as string}`);
  if (match[1] === "-") value = -value;
  if (value > 9223372036854775807n || value < -9223372036854775808n) {
    throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(text)}: value out of range`);
  }
  return value.toString();
}

/** Go's strconv.ParseUint(text, 16, 64) as etcdctl parses member IDs. */
export function parseHexUint64(text: string): string {
  const match = /^[0-9a-fA-F]+$/.exec(text);
  if (match === null) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(text)}: invalid syntax`);
  const value = BigInt(`0x${text}`);
  if (value > 18446744073709551615n) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(text)}: value out of range`);
  return value.toString();
}

/** Go's strconv.ParseInt(text, 10, 64). */
export function parseDecInt64(text: string): string {
  const match = /^[+-]?[0-9]+$/.exec(text);
  if (match === null) throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(text)}: invalid syntax`);
  const value = BigInt(text);
  if (value > 9223372036854775807n || value < -9223372036854775808n) {
    throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(text)}: value out of range`);
  }
  return value.toString();
}
