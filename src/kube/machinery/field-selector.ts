// Field selectors (`?fieldSelector=`): the `=`, `==`, `!=` syntax of k8s.io/apimachinery
// pkg/fields/selector.go (with its `\,` `\=` `\\` escapes) and the per-kind selectable fields of
// kube's registries (pkg/registry/*/strategy.go GetAttrs / ToSelectableFields and the field label
// conversions in pkg/apis/*/v1/conversion.go). An unsupported field is a 400 with kube's
// "field label not supported: <field>".
import { getPath, isJsonObject, type JsonObject, type JsonValue } from './json.js';
import { badRequest } from './status.js';

export type FieldOperator = '=' | '==' | '!=';

export interface FieldRequirement {
  readonly field: string;
  readonly operator: FieldOperator;
  readonly value: string;
}

export type FieldSet = Readonly<Record<string, string>>;

export interface FieldSelector {
  readonly requirements: readonly FieldRequirement[];
  matches(fields: FieldSet): boolean;
  isEmpty(): boolean;
  /** The value an `=`/`==` requirement pins `field` to (e.g. metadata.name for a get-like list). */
  requiresExactMatch(field: string): string | undefined;
  toString(): string;
}

function escapeValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/,/g, '\\,').replace(/=/g, '\\=');
}

class Selector implements FieldSelector {
  constructor(readonly requirements: readonly FieldRequirement[]) {}
  matches(fields: FieldSet): boolean {
    return this.requirements.every((r) => {
      const have = fields[r.field] ?? '';
      return r.operator === '!=' ? have !== r.value : have === r.value;
    });
  }
  isEmpty(): boolean {
    return this.requirements.length === 0;
  }
  requiresExactMatch(field: string): string | undefined {
    for (const r of this.requirements) if (r.field === field && r.operator !== '!=') return r.value;
    return undefined;
  }
  toString(): string {
    return this.requirements.map((r) => `${r.field}${r.operator}${escapeValue(r.value)}`).join(',');
  }
}

export const everythingFields: FieldSelector = new Selector([]);

/** Split on unescaped commas, keeping escapes for the value decoder. */
function splitTerms(s: string): string[] {
  const terms: string[] = [];
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === ',') {
      terms.push(s.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(s.slice(start));
  return terms;
}

/** The first unescaped operator, trying "!=", "==", "=" at each position (fields.splitTerm). */
function splitTerm(term: string): { lhs: string; op: FieldOperator; rhs: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    if (term[i] === '\\') {
      i++;
      continue;
    }
    for (const op of ['!=', '==', '='] as const) {
      if (term.startsWith(op, i)) return { lhs: term.slice(0, i), op, rhs: term.slice(i + op.length) };
    }
  }
  return undefined;
}

function unescapeValue(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] ?? '';
    if (ch === '\\') {
      const next = s[i + 1];
      if (next === '\\' || next === ',' || next === '=') {
        out += next;
        i++;
        continue;
      }
      throw badRequest(`invalid field selector: invalid escape sequence: ${s}`);
    }
    if (ch === ',' || ch === '=') throw badRequest(`invalid field selector: unescaped character in value: ${s}`);
    out += ch;
  }
  return out;
}

/** Syntax only; any field name is accepted. The empty string selects everything. */
export function parseFieldSelector(text: string): FieldSelector {
  if (text.trim() === '') return everythingFields;
  const reqs: FieldRequirement[] = [];
  for (const term of splitTerms(text)) {
    if (term === '') continue;
    const parts = splitTerm(term);
    if (parts === undefined) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    reqs.push({ field: parts.lhs, operator: parts.op, value: unescapeValue(parts.rhs) });
  }
  // kube sorts a parsed field selector by field name for a stable String().
  reqs.sort((a, b) => (a.field < b.field ? -1 : a.field > b.field ? 1 : 0));
  return new Selector(reqs);
}

// ---- selectable fields per kind --------------------------------------------------------------

const NAMESPACED_META = ['metadata.name', 'metadata.namespace'] as const;

/**
 * Field labels of the kinds with their own conversion function in kube
 * (pkg/apis/core/v1/conversion.go): anything else is "field label not supported: <field>".
 */
const SUPPORTED: Readonly<Record<string, readonly string[]>> = {
  Pod: [
    ...NAMESPACED_META,
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'spec.hostNetwork',
    'status.phase',
    'status.podIP',
    'status.podIPs',
    'status.nominatedNodeName',
  ],
  // Cluster-scoped kinds with their own conversion: kube rejects metadata.namespace for these.
  Node: ['metadata.name', 'spec.unschedulable'],
  Namespace: ['metadata.name', 'status.phase'],
  Event: [
    ...NAMESPACED_META,
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
  Secret: [...NAMESPACED_META, 'type'],
  Service: [...NAMESPACED_META, 'spec.clusterIP', 'spec.type'],
};

/** The field labels `kind` supports in selectors. */
export function supportedFieldLabels(kind: string): readonly string[] {
  return SUPPORTED[kind] ?? NAMESPACED_META;
}

/** Old clients' name for spec.nodeName, still accepted for pods. */
const ALIASES: Readonly<Record<string, Readonly<Record<string, string>>>> = { Pod: { 'spec.host': 'spec.nodeName' } };

/**
 * Reject selectors on fields the kind does not index, with kube's 400 texts: kinds with their own
 * conversion say "field label not supported: <field>"; the rest use apimachinery's
 * DefaultMetaV1FieldSelectorConversion text. Returns the selector with aliases resolved.
 */
export function checkFieldSelector(kind: string, sel: FieldSelector): FieldSelector {
  const own = SUPPORTED[kind];
  const aliases = ALIASES[kind] ?? {};
  const out: FieldRequirement[] = [];
  for (const r of sel.requirements) {
    const field = aliases[r.field] ?? r.field;
    if (own !== undefined && !own.includes(field)) throw badRequest(`field label not supported: ${r.field}`);
    if (own === undefined && !NAMESPACED_META.includes(field as (typeof NAMESPACED_META)[number])) {
      throw badRequest(`${JSON.stringify(r.field)} is not a known field selector: only "metadata.name", "metadata.namespace"`);
    }
    out.push(field === r.field ? r : { ...r, field });
  }
  return out.length === 0 ? sel : new Selector(out);
}

/**
 * The selector with its labels renamed through `labels` (a served version's names → the stored
 * form's); a label not in the map is kube's "field label not supported: <field>".
 */
export function renameFieldLabels(sel: FieldSelector, labels: Readonly<Record<string, string>>): FieldSelector {
  if (sel.isEmpty()) return sel;
  const out = sel.requirements.map((r): FieldRequirement => {
    const field = labels[r.field];
    if (field === undefined) throw badRequest(`field label not supported: ${r.field}`);
    return field === r.field ? r : { ...r, field };
  });
  return new Selector(out);
}

/** Parse and check against the kind in one go (what a list/watch handler wants). */
export function parseFieldSelectorFor(kind: string, text: string): FieldSelector {
  return checkFieldSelector(kind, parseFieldSelector(text));
}

function str(obj: JsonValue | undefined, ...path: string[]): string {
  const v = getPath(obj, ...path);
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v); // Go's fmt.Sprint / strconv
  return '';
}

function bool(obj: JsonValue | undefined, ...path: string[]): string {
  return getPath(obj, ...path) === true ? 'true' : 'false';
}

/**
 * The field set kube's registry computes for one object (GetAttrs); selectors match against it.
 * Missing values are "" (so `spec.nodeName=` finds unscheduled pods), booleans "true"/"false".
 */
export function selectableFields(kind: string, obj: JsonObject): Record<string, string> {
  const f: Record<string, string> = { 'metadata.name': str(obj, 'metadata', 'name') };
  const ns = str(obj, 'metadata', 'namespace');
  switch (kind) {
    case 'Node':
      f['spec.unschedulable'] = bool(obj, 'spec', 'unschedulable');
      return f;
    case 'Namespace':
      f['status.phase'] = str(obj, 'status', 'phase');
      return f;
    case 'Pod': {
      f['metadata.namespace'] = ns;
      f['spec.nodeName'] = str(obj, 'spec', 'nodeName');
      f['spec.restartPolicy'] = str(obj, 'spec', 'restartPolicy');
      f['spec.schedulerName'] = str(obj, 'spec', 'schedulerName');
      f['spec.serviceAccountName'] = str(obj, 'spec', 'serviceAccountName');
      f['spec.hostNetwork'] = bool(obj, 'spec', 'hostNetwork');
      f['status.phase'] = str(obj, 'status', 'phase');
      // podIP is the first of podIPs; kube selects on status.podIPs by the first entry too.
      const ips = getPath(obj, 'status', 'podIPs');
      const firstIp = Array.isArray(ips) && isJsonObject(ips[0]) ? str(ips[0], 'ip') : '';
      f['status.podIP'] = str(obj, 'status', 'podIP') || firstIp;
      f['status.podIPs'] = firstIp || str(obj, 'status', 'podIP');
      f['status.nominatedNodeName'] = str(obj, 'status', 'nominatedNodeName');
      return f;
    }
    case 'Event': {
      f['metadata.namespace'] = ns;
      for (const k of ['kind', 'namespace', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath']) {
        f[`involvedObject.${k}`] = str(obj, 'involvedObject', k);
      }
      f.reason = str(obj, 'reason');
      f.reportingComponent = str(obj, 'reportingComponent');
      f.source = str(obj, 'source', 'component');
      f.type = str(obj, 'type');
      return f;
    }
    case 'Secret':
      f['metadata.namespace'] = ns;
      f.type = str(obj, 'type');
      return f;
    case 'Service':
      f['metadata.namespace'] = ns;
      f['spec.clusterIP'] = str(obj, 'spec', 'clusterIP');
      f['spec.type'] = str(obj, 'spec', 'type');
      return f;
    default:
      f['metadata.namespace'] = ns;
      return f;
  }
}

export function matchesFieldSelector(kind: string, sel: FieldSelector, obj: JsonObject): boolean {
  return sel.isEmpty() || sel.matches(selectableFields(kind, obj));
}
