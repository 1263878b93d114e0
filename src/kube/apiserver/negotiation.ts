// Content negotiation as kube-apiserver does it for JSON clients: the Accept header may ask for a
// plain object (JSON or YAML), a server-side Table (kubectl get), or PartialObjectMetadata (the
// metadata-only clients); request bodies come as JSON or YAML, patches in three (four) types.

import { notAcceptable } from '../machinery/status.js';

export type OutputKind = 'object' | 'table' | 'metadata';

export interface OutputFormat {
  readonly kind: OutputKind;
  /** Serialisation of the body. */
  readonly encoding: 'json' | 'yaml';
  /** meta.k8s.io version of a Table/PartialObjectMetadata answer. */
  readonly metaVersion: 'v1' | 'v1beta1';
}

interface MediaRange {
  readonly type: string;
  readonly params: ReadonlyMap<string, string>;
}

/** Media ranges of an Accept (or Content-Type) header in order, parameters lower-cased by key. */
export function parseMediaRanges(header: string): MediaRange[] {
  const out: MediaRange[] = [];
  for (const part of header.split(',')) {
    const [typePart, ...paramParts] = part.split(';');
    const type = (typePart ?? '').trim().toLowerCase();
    if (type === '') continue;
    const params = new Map<string, string>();
    for (const p of paramParts) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim().replace(/^"|"$/g, ''));
    }
    out.push({ type, params });
  }
  return out;
}

const accepted = ['application/json', 'application/yaml', 'application/json;as=Table;v=v1;g=meta.k8s.io'];

/**
 * The answer format for a GET/LIST/WATCH/write response. `allowTransform` is false where kube
 * serves only plain objects (e.g. subresources), so Table requests fall through to JSON.
 */
export function negotiateOutput(acceptHeader: string | undefined, allowTransform = true): OutputFormat {
  if (acceptHeader === undefined || acceptHeader.trim() === '') return { kind: 'object', encoding: 'json', metaVersion: 'v1' };
  for (const range of parseMediaRanges(acceptHeader)) {
    const encoding = encodingOf(range.type);
    if (encoding === undefined) continue;
    const as = range.params.get('as');
    if (as === undefined) return { kind: 'object', encoding, metaVersion: 'v1' };
    if (!allowTransform) continue;
    const g = range.params.get('g');
    const v = range.params.get('v');
    if (g !== 'meta.k8s.io' || (v !== 'v1' && v !== 'v1beta1')) continue;
    if (as === 'Table') return { kind: 'table', encoding, metaVersion: v };
    if (as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList') return { kind: 'metadata', encoding, metaVersion: v };
  }
  throw notAcceptable(accepted);
}

function encodingOf(type: string): 'json' | 'yaml' | undefined {
  if (type === 'application/json' || type === '*/*' || type === 'application/*') return 'json';
  if (type === 'application/yaml' || type === 'text/yaml') return 'yaml';
  return undefined;
}
