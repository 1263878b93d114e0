// The apiserver's security pieces on their own (no processes): token file parsing, RBAC rule
// matching and bindings, the encryption providers' stored layout, key rotation and failures.

import { createDecipheriv } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import type { RequestAttributes } from '../../src/kube/apiserver/authorization.js';
import { forbiddenMessage } from '../../src/kube/apiserver/authorization.js';
import { parseEncryptionConfig } from '../../src/kube/apiserver/encryption-config.js';
import { RbacAuthorizer, ruleAllows } from '../../src/kube/apiserver/rbac-authorizer.js';
import { parseTokenFile, TokenFileError } from '../../src/kube/apiserver/token-file.js';
import { decodeRbacProtobuf } from '../../src/kube/machinery/rbac-protobuf.js';
import type { JsonObject } from '../../src/kube/machinery/json.js';

const user = { name: 'alice', uid: '', groups: ['devs', 'system:authenticated'] };

function attrs(over: Partial<RequestAttributes>): RequestAttributes {
  return { user, verb: 'get', resourceRequest: true, path: '', apiGroup: '', apiVersion: 'v1', namespace: 'default', resource: 'pods', subresource: '', name: '', ...over };
}

describe('token file', () => {
  it("reads kube's CSV: token,user,uid,\"group1,group2\"", () => {
    const tokens = parseTokenFile('t1,alice,1\n\nt2, bob ,2,"a,b"\n');
    expect(tokens.get('t1')).toEqual({ name: 'alice', uid: '1', groups: [] });
    expect(tokens.get('t2')).toEqual({ name: 'bob ', uid: '2', groups: ['a', 'b'] });
    expect(() => parseTokenFile('t1,alice\n', 'f.csv')).toThrow(new TokenFileError('f.csv: line 1: must have at least 3 columns (token, user name, user uid), found 2'));
    expect(() => parseTokenFile('t1,alice,1,"a,b\n')).toThrow(/unterminated quoted field/);
  });
});

describe('RBAC', () => {
  it("matches rules as kube does: verbs, groups, resource/subresource, */subresource, names, URL prefixes", () => {
    expect(ruleAllows({ verbs: ['get'], apiGroups: [''], resources: ['pods'] }, attrs({}))).toBe(true);
    expect(ruleAllows({ verbs: ['get'], apiGroups: [''], resources: ['pods'] }, attrs({ subresource: 'status' }))).toBe(false);
    expect(ruleAllows({ verbs: ['get'], apiGroups: [''], resources: ['pods/status'] }, attrs({ subresource: 'status' }))).toBe(true);
    expect(ruleAllows({ verbs: ['get'], apiGroups: [''], resources: ['*/status'] }, attrs({ subresource: 'status' }))).toBe(true);
    expect(ruleAllows({ verbs: ['*'], apiGroups: ['apps'], resources: ['*'] }, attrs({}))).toBe(false);
    expect(ruleAllows({ verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }, attrs({ name: 'b' }))).toBe(false);
    expect(ruleAllows({ verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }, attrs({ name: 'a' }))).toBe(true);
    const nr = attrs({ resourceRequest: false, path: '/apis/apps/v1', resource: '', namespace: '' });
    expect(ruleAllows({ verbs: ['get'], nonResourceURLs: ['/apis/*'] }, nr)).toBe(true);
    expect(ruleAllows({ verbs: ['get'], nonResourceURLs: ['/api'] }, nr)).toBe(false);
  });

  it('RoleBindings apply in their namespace only; a binding to a missing role is named in the reason', () => {
    const role = (kind: string, name: string, ns?: string): JsonObject => ({ kind, metadata: { name, ...(ns === undefined ? {} : { namespace: ns }) }, rules: [{ verbs: ['list'], apiGroups: [''], resources: ['pods'] }] });
    const binding = (roleKind: string, roleName: string, subject: JsonObject): JsonObject => ({ roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name: roleName }, subjects: [subject] });
    const rbac = new RbacAuthorizer({
      clusterRole: (name) => (name === 'reader' ? role('ClusterRole', 'reader') : undefined),
      role: (ns, name) => (ns === 'team' && name === 'r' ? role('Role', 'r', 'team') : undefined),
      clusterRoleBindings: () => [binding('ClusterRole', 'gone', { kind: 'User', name: 'alice' })],
      roleBindings: (ns) => (ns === 'team' ? [binding('Role', 'r', { kind: 'Group', name: 'devs' })] : ns === 'other' ? [binding('ClusterRole', 'reader', { kind: 'ServiceAccount', name: 'sa' })] : []),
    });
    expect(rbac.authorize(attrs({ verb: 'list', namespace: 'team' }))).toEqual({ allowed: true });
    expect(rbac.authorize(attrs({ verb: 'list', namespace: 'default' }))).toEqual({ allowed: false, reason: 'RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found' });
    expect(rbac.authorize(attrs({ verb: 'list', namespace: 'other', user: { name: 'system:serviceaccount:other:sa', uid: '', groups: [] } }))).toEqual({ allowed: true });
  });

  it("words refusals as kube's responsewriters do", () => {
    expect(forbiddenMessage(attrs({ verb: 'list' }))).toBe('User "alice" cannot list resource "pods" in API group "" in the namespace "default"');
    expect(forbiddenMessage(attrs({ verb: 'patch', resource: 'nodes', subresource: 'status', namespace: '' }))).toBe('User "alice" cannot patch resource "nodes/status" in API group "" at the cluster scope');
    expect(forbiddenMessage(attrs({ resourceRequest: false, path: '/metrics' }))).toBe('User "alice" cannot get path "/metrics"');
  });

  it('decodes protobuf RoleBinding bodies (as client-go sends them)', () => {
    const field = (no: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([(no << 3) | 2, body.length]), body]);
    const text = (no: number, s: string): Buffer => field(no, Buffer.from(s));
    const raw = Buffer.concat([
      field(1, Buffer.concat([text(1, 'rb'), text(3, 'team')])),
      field(2, Buffer.concat([text(1, 'User'), text(2, 'rbac.authorization.k8s.io'), text(3, 'bob'), text(4, '')])),
      field(3, Buffer.concat([text(1, 'rbac.authorization.k8s.io'), text(2, 'ClusterRole'), text(3, 'view')])),
    ]);
    const envelope = Buffer.concat([Buffer.from('k8s\0', 'latin1'), field(1, Buffer.concat([text(1, 'rbac.authorization.k8s.io/v1'), text(2, 'RoleBinding')])), field(2, raw)]);
    expect(decodeRbacProtobuf(envelope)).toEqual({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'rb', namespace: 'team' },
      subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'bob' }],
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
    });
  });
});

describe('encryption at rest', () => {
  const key1 = Buffer.alloc(32, 1);
  const key2 = Buffer.alloc(16, 2);
  const config = (providers: string): string =>
    `apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n${providers}`;
  const cbc = `      - aescbc: { keys: [{ name: k1, secret: ${key1.toString('base64')} }] }\n`;
  const gcm = `      - aesgcm: { keys: [{ name: g1, secret: ${key2.toString('base64')} }] }\n`;
  const identity = '      - identity: {}\n';
  const plain = Buffer.from('{"kind":"Secret"}');
  const key = '/registry/secrets/default/s';

  it("aescbc stores kube's layout: prefix, IV, CBC ciphertext of the JSON", () => {
    const [entry] = parseEncryptionConfig(config(cbc + identity));
    const stored = Buffer.from(entry!.transformer.toStorage(plain, key));
    const prefix = 'k8s:enc:aescbc:v1:k1:';
    expect(stored.subarray(0, prefix.length).toString()).toBe(prefix);
    const body = stored.subarray(prefix.length);
    const decipher = createDecipheriv('aes-256-cbc', key1, body.subarray(0, 16));
    expect(Buffer.concat([decipher.update(body.subarray(16)), decipher.final()])).toEqual(plain);
    expect(Buffer.from(entry!.transformer.fromStorage(stored, key))).toEqual(plain);
    // identity in the list: old plaintext stays readable.
    expect(Buffer.from(entry!.transformer.fromStorage(plain, key))).toEqual(plain);
  });

  it('aesgcm binds the value to its key; rotation reads old values; unknown keys and missing identity fail loudly', () => {
    const [gcmFirst] = parseEncryptionConfig(config(gcm + cbc));
    const stored = gcmFirst!.transformer.toStorage(plain, key);
    expect(Buffer.from(stored).subarray(0, 21).toString()).toBe('k8s:enc:aesgcm:v1:g1:');
    expect(Buffer.from(gcmFirst!.transformer.fromStorage(stored, key))).toEqual(plain);
    expect(() => gcmFirst!.transformer.fromStorage(stored, '/registry/secrets/default/other')).toThrow(/cannot decrypt with k8s:enc:aesgcm:v1:g1/);
    // Rotated: cbc first now, the gcm key still listed for reading.
    const [rotated] = parseEncryptionConfig(config(cbc + gcm));
    expect(Buffer.from(rotated!.transformer.fromStorage(stored, key))).toEqual(plain);
    const [cbcOnly] = parseEncryptionConfig(config(cbc));
    expect(() => cbcOnly!.transformer.fromStorage(stored, key)).toThrow(/no configured provider matches the stored prefix k8s:enc:aesgcm:v1:g1/);
    expect(() => cbcOnly!.transformer.fromStorage(plain, key)).toThrow(/not encrypted and no identity provider/);
    expect(() => parseEncryptionConfig(config(`      - aescbc: { keys: [{ name: k, secret: ${key2.toString('base64')} }] }\n`))).toThrow(/secret is not of the expected length, got 16, expected one of \[32\]/);
    expect(() => parseEncryptionConfig(config('      - secretbox: { keys: [] }\n'))).toThrow(/provider secretbox is not supported/);
  });
});
