// Go's formatting of values as etcdctl prints them: %q strings, time.Duration.String(),
// humanize.Bytes, and hex IDs (%x, %016x, %16x).

const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/** strconv.Quote of the bytes interpreted as a Go string (invalid UTF-8 bytes become \xNN). */
export function goQuote(value: Buffer | string): string {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  let out = '"';
  let i = 0;
  while (i < bytes.length) {
    const [rune, width] = decodeRune(bytes, i);
    if (rune === -1) {
      out += `\\x${hex2(bytes[i] as number)}`;
      i += 1;
      continue;
    }
    i += width;
    out += quoteRune(rune);
  }
  return `${out}"`;
}

function quoteRune(rune: number): string {
  switch (rune) {
    case 0x22:
      return '\\"';
    case 0x5c:
      return "\\\\";
    case 0x07:
      return "\\a";
    case 0x08:
      return "\\b";
    case 0x0c:
      return "\\f";
    case 0x0a:
      return "\\n";
    case 0x0d:
      return "\\r";
    case 0x09:
      return "\\t";
    case 0x0b:
      return "\\v";
  }
  const char = String.fromCodePoint(rune);
  if (printable.test(char)) return char;
  if (rune < 0x20 || rune === 0x7f) return `\\x${hex2(rune)}`;
  if (rune < 0x10000) return `\\u${rune.toString(16).padStart(4, "0")}`;
  return `\\U${rune.toString(16).padStart(8, "0")}`;
}

function hex2(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}

/** One UTF-8 rune at `i`: [codePoint, width], or [-1, 1] for an invalid byte (as Go decodes). */
function decodeRune(bytes: Buffer, i: number): [number, number] {
  const b0 = bytes[i] as number;
  if (b0 < 0x80) return [b0, 1];
  let need: number;
  let rune: number;
  let min: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) [need, rune, min] = [1, b0 & 0x1f, 0x80];
  else if (b0 >= 0xe0 && b0 <= 0xef) [need, rune, min] = [2, b0 & 0x0f, 0x800];
  else if (b0 >= 0xf0 && b0 <= 0xf4) [need, rune, min] = [3, b0 & 0x07, 0x10000];
  else return [-1, 1];
  for (let k = 1; k <= need; k++) {
    const b = bytes[i + k];
    if (b === undefined || (b & 0xc0) !== 0x80) return [-1, 1];
    rune = (rune << 6) | (b & 0x3f);
  }
  if (rune < min || rune > 0x10ffff || (rune >= 0xd800 && rune <= 0xdfff)) return [-1, 1];
  return [rune, need + 1];
}

/** time.Duration.String() of a duration in nanoseconds (e.g. "1.271877ms", "2.5s", "1m0.5s"). */
export function goDurationString(nanos: bigint): string {
  if (nanos === 0n) return "0s";
  const negative = nanos < 0n;
  let u = negative ? -nanos : nanos;
  let text: string;
  if (u < 1_000_000_000n) {
    // Sub-second: one unit, with fraction.
    if (u < 1000n) text = `${u}ns`;
    else if (u < 1_000_000n) text = `${fraction(u, 3)}µs`;
    else text = `${fraction(u, 6)}ms`;
  } else {
    const seconds = fraction(u % 60_000_000_000n, 9);
    u /= 60_000_000_000n;
    text = `${seconds}s`;
    if (u > 0n) {
      text = `${u % 60n}m${text}`;
      u /= 60n;
      if (u > 0n) text = `${u}h${text}`;
    }
  }
  return negative ? `-${text}` : text;
}

/** value / 10^digits with the fraction's trailing zeros dropped ("1.5", "2"). */
function fraction(value: bigint, digits: number): string {
  const scale = 10n ** BigInt(digits);
  const whole = value / scale;
  const rest = (value % scale).toString().padStart(digits, "0").replace(/0+$/, "");
  return rest === "" ? `${whole}` : `${whole}.${rest}`;
}

/** github.com/dustin/go-humanize Bytes: SI units, e.g. "20 kB", "1.2 MB", "512 B". */
export function humanizeBytes(size: bigint | number | string): string {
  const n = Number(size);
  if (n < 10) return `${n} B`;
  const units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
  const e = Math.floor(Math.log(n) / Math.log(1000));
  const suffix = units[e] as string;
  const value = Math.floor((n / 1000 ** e) * 10 + 0.5) / 10;
  return value < 10 ? `${value.toFixed(1)} ${suffix}` : `${roundHalfEven(value)} ${suffix}`;
}

/** Go's %.0f: an exact half rounds to the even neighbour (JS toFixed would round it up). */
function roundHalfEven(value: number): string {
  const floor = Math.floor(value);
  if (value - floor === 0.5) return String(floor % 2 === 0 ? floor : floor + 1);
  return value.toFixed(0);
}

/** %x of a uint64/int64 decimal string (negative int64 values print as Go does for the type). */
export function hexId(decimal: string): string {
  return BigInt(decimal).toString(16);
}

/** %016x of an int64 lease ID (two's complement for negatives, as Go prints int64 with %x: sign). */
export function leaseHex(decimal: string): string {
  const value = BigInt(decimal);
  const text = value < 0n ? `-${(-value).toString(16).padStart(16, "0")}` : value.toString(16).padStart(16, "0");
  return text;
}

/** %16x: hex, right-aligned in 16 columns with spaces. */
export function hex16(decimal: string): string {
  return BigInt(decimal).toString(16).padStart(16, " ");
}
