// The pod-template-hash label and the ReplicaSet name suffix (controller.ComputeHash): FNV-1a
// (32 bit) over the pod template, plus the collision count as 4 little-endian bytes when set,
// printed in decimal and mapped through rand.SafeEncodeString's alphabet (no vowels, no 0/1/3,
// so a hash never spells a word). kube hashes a spew dump of the Go struct; we hash the
// template's canonical JSON (keys sorted), so the suffixes differ from kube's for the same
// template but have the same properties: stable, and changed by any template change.

const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function fnv32a(bytes: Uint8Array, h = 0x811c9dc5): number {
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** JSON with object keys sorted at every level. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((e) => canonicalJson(e === undefined ? null : e)).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, e]) => e !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, e]) => `${JSON.stringify(k)}:${canonicalJson(e)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * A template as kube sees it after decoding into Go structs: null fields are zero values (absent)
 * and empty lists equal nil ones (apimachinery's Semantic.DeepEqual). kubectl sends, e.g.,
 * `"creationTimestamp": null` inside templates; it must not make two templates differ.
 */
export function semanticJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(semanticJson);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, e] of Object.entries(v as Record<string, unknown>)) {
      if (e === null || e === undefined || (Array.isArray(e) && e.length === 0)) continue;
      out[k] = semanticJson(e);
    }
    return out;
  }
  return v;
}

/** rand.SafeEncodeString: each character replaced by alphabet[code % 27]. */
export function safeEncodeString(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += SAFE_ALPHABET[s.charCodeAt(i) % SAFE_ALPHABET.length];
  return out;
}

export function computePodTemplateHash(template: unknown, collisionCount?: number): string {
  let h = fnv32a(new TextEncoder().encode(canonicalJson(semanticJson(template))));
  if (collisionCount !== undefined && collisionCount !== null) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, collisionCount >>> 0, true);
    h = fnv32a(b, h);
  }
  return safeEncodeString(String(h));
}
