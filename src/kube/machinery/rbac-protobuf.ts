// Request bodies in Kubernetes' protobuf encoding for the RBAC kinds: client-go's typed RBAC client
// (what `kubectl create role|clusterrole|rolebinding|clusterrolebinding` uses) sends
// application/vnd.kubernetes.protobuf. The envelope is the 4 bytes "k8s\0" and a runtime.Unknown
// {typeMeta{apiVersion=1, kind=2}=1, raw=2}; raw is the object with kube's field numbers
// (k8s.io/api/rbac/v1/generated.proto, apimachinery meta/v1 ObjectMeta). Only what a create
// carries is read: metadata name/generateName/namespace/labels/annotations, rules, subjects, roleRef.

import type { JsonObject } from './json.js';

export const protobufContentType = 'application/vnd.kubernetes.protobuf';

type Field = { readonly no: number; readonly wire: number; readonly value: bigint | Buffer };

function readVarint(buf: Buffer, at: { pos: number }): bigint {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (at.pos >= buf.length) throw new Error('truncated varint');
    const byte = buf[at.pos++] as number;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return result;
    shift += 7n;
    if (shift > 63n) throw new Error('varint too long');
  }
}

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  const at = { pos: 0 };
  while (at.pos < buf.length) {
    const key = Number(readVarint(buf, at));
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ no, wire, value: readVarint(buf, at) });
    else if (wire === 2) {
      const len = Number(readVarint(buf, at));
      if (at.pos + len > buf.length) throw new Error('truncated field');
      out.push({ no, wire, value: buf.subarray(at.pos, at.pos + len) });
      at.pos += len;
    } else if (wire === 1) at.pos += 8;
    else if (wire === 5) at.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

const bytesOf = (list: Field[], no: number): Buffer[] => list.filter((f) => f.no === no && f.wire === 2).map((f) => f.value as Buffer);
const str = (list: Field[], no: number): string | undefined => bytesOf(list, no)[0]?.toString('utf8');
const strs = (list: Field[], no: number): string[] => bytesOf(list, no).map((b) => b.toString('utf8'));

function stringMap(entries: Buffer[]): Record<string, string> | undefined {
  if (entries.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const entry of entries) {
    const f = fields(entry);
    out[str(f, 1) ?? ''] = str(f, 2) ?? '';
  }
  return out;
}

function objectMeta(buf: Buffer | undefined): JsonObject {
  const meta: JsonObject = {};
  if (buf === undefined) return meta;
  const f = fields(buf);
  const put = (key: string, value: string | Record<string, string> | undefined): void => {
    if (value !== undefined && value !== '') meta[key] = value;
  };
  put('name', str(f, 1));
  put('generateName', str(f, 2));
  put('namespace', str(f, 3));
  put('labels', stringMap(bytesOf(f, 11)));
  put('annotations', stringMap(bytesOf(f, 12)));
  return meta;
}

function compact(obj: Record<string, string | string[] | undefined>): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0)) out[k] = v;
  return out;
}

const policyRule = (b: Buffer): JsonObject => {
  const f = fields(b);
  return compact({ verbs: strs(f, 1), apiGroups: strs(f, 2), resources: strs(f, 3), resourceNames: strs(f, 4), nonResourceURLs: strs(f, 5) });
};
const subject = (b: Buffer): JsonObject => {
  const f = fields(b);
  return compact({ kind: str(f, 1), apiGroup: str(f, 2), name: str(f, 3), namespace: str(f, 4) });
};
const roleRef = (b: Buffer | undefined): JsonObject => {
  const f = b === undefined ? [] : fields(b);
  return { apiGroup: str(f, 1) ?? '', kind: str(f, 2) ?? '', name: str(f, 3) ?? '' };
};

/** Decodes a protobuf body of one of the RBAC kinds; throws when it is not one. */
export function decodeRbacProtobuf(body: Buffer): JsonObject {
  if (body.length < 4 || body.subarray(0, 4).toString('latin1') !== 'k8s\0') throw new Error('missing the k8s protobuf envelope');
  const unknown = fields(body.subarray(4));
  const typeMeta = fields(bytesOf(unknown, 1)[0] ?? Buffer.alloc(0));
  const apiVersion = str(typeMeta, 1) ?? '';
  const kind = str(typeMeta, 2) ?? '';
  const raw = fields(bytesOf(unknown, 2)[0] ?? Buffer.alloc(0));
  const obj: JsonObject = { apiVersion, kind, metadata: objectMeta(bytesOf(raw, 1)[0]) };
  switch (kind) {
    case 'Role':
    case 'ClusterRole':
      obj.rules = bytesOf(raw, 2).map(policyRule);
      break;
    case 'RoleBinding':
    case 'ClusterRoleBinding': {
      const subjects = bytesOf(raw, 2).map(subject);
      if (subjects.length > 0) obj.subjects = subjects;
      obj.roleRef = roleRef(bytesOf(raw, 3)[0]);
      break;
    }
    default:
      throw new Error(`protobuf bodies of kind ${JSON.stringify(kind)} are not supported`);
  }
  return obj;
}
