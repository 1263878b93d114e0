// Go's encoding/json output for the shapes etcdctl -w json prints: object keys in struct order,
// int64/uint64 as bare numbers (kept as decimal text, never rounded through a JS number), []byte
// as base64, and Go's string escaping (<, >, & and U+2028/2029 as \u escapes).

/** An integer printed as a bare JSON number from its decimal text. */
export class JsonInt {
  constructor(readonly text: string) {}
}

export type GoJson = null | boolean | string | number | JsonInt | Buffer | GoJson[] | { [key: string]: GoJson | undefined };

export function int(text: string | number): JsonInt {
  return new JsonInt(String(text));
}

export function marshalGoJson(value: GoJson): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return quoteGoJson(value);
  if (value instanceof JsonInt) return value.text;
  if (Buffer.isBuffer(value)) return `"${value.toString("base64")}"`;
  if (Array.isArray(value)) return `[${value.map(marshalGoJson).join(",")}]`;
  const parts: string[] = [];
  for (const [key, item] of Object.entries(value)) {
    if (item !== undefined) parts.push(`${quoteGoJson(key)}:${marshalGoJson(item)}`);
  }
  return `{${parts.join(",")}}`;
}

function quoteGoJson(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    if (char === '"') out += '\\"';
    else if (char === "\\") out += "\\\\";
    else if (char === "\n") out += "\\n";
    else if (char === "\r") out += "\\r";
    else if (char === "\t") out += "\\t";
    else if (code < 0x20 || char === "<" || char === ">" || char === "&" || code === 0x2028 || code === 0x2029) {
      out += `\\u${code.toString(16).padStart(4, "0")}`;
    } else out += char;
  }
  return `${out}"`;
}

// ---- omitempty helpers: gogoproto's json tags omit zero values

/** An int64/uint64 field with omitempty: undefined (left out) when zero. */
export function optInt(text: string | undefined): JsonInt | undefined {
  return text === undefined || text === "0" ? undefined : new JsonInt(text);
}

export function optBool(value: boolean | undefined): true | undefined {
  return value === true ? true : undefined;
}

export function optString(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

export function optBytes(value: Buffer | undefined): Buffer | undefined {
  return value === undefined || value.length === 0 ? undefined : value;
}

export function optArray<T>(items: readonly T[] | undefined, map: (item: T) => GoJson): GoJson[] | undefined {
  return items === undefined || items.length === 0 ? undefined : items.map(map);
}
