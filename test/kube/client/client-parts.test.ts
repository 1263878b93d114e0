// The REST client's pure parts: watch stream framing, Status → typed errors, URL paths,
// kubeconfig resolution. (Requests, failover and watches run against real apiservers in
// test/kube/client/kube-client.test.ts.)

import { describe, expect, it } from 'vitest';
import { errorFromResponse, isAlreadyExists, isConflict, isGone, isNotFound, KubeApiError } from '../../../src/kube/client/api-error.js';
import { formatMicroTime, formatTime } from '../../../src/kube/client/clock.js';
import { JsonStreamSplitter } from '../../../src/kube/client/json-stream.js';
import { parseKubeconfig } from '../../../src/kube/client/kubeconfig.js';
import { DEPLOYMENTS, LEASES, NODES, PODS, resourcePath } from '../../../src/kube/client/resource-ref.js';

describe('JsonStreamSplitter', () => {
  const events = [
    { type: 'ADDED', object: { kind: 'Pod', metadata: { name: 'a', annotations: { x: 'has } and { and "quotes" and \\ backslash' } } } },
    { type: 'MODIFIED', object: { kind: 'Pod', metadata: { name: 'ü-ñ-日本', labels: { a: '[' } } } },
    { type: 'BOOKMARK', object: { kind: 'Pod', metadata: { resourceVersion: '12' } } },
  ];
  const wire = Buffer.from(events.map((e) => `${JSON.stringify(e)}\n`).join(''), 'utf8');

  it('reassembles events split at every possible byte boundary (including inside UTF-8 sequences)', () => {
    for (let cut = 1; cut < wire.length; cut++) {
      const s = new JsonStreamSplitter();
      const out = [...s.push(wire.subarray(0, cut)), ...s.push(wire.subarray(cut))];
      expect(out.map((t) => JSON.parse(t) as unknown)).toEqual(events);
      expect(s.idle).toBe(true);
    }
  });

  it('reads byte-at-a-time and concatenated objects without newlines', () => {
    const s = new JsonStreamSplitter();
    const out: string[] = [];
    const glued = Buffer.from(events.map((e) => JSON.stringify(e)).join(''), 'utf8');
    for (const b of glued) out.push(...s.push(Buffer.from([b])));
    expect(out.map((t) => JSON.parse(t) as unknown)).toEqual(events);
  });

  it('reports a half-read object and rejects garbage between objects', () => {
    const s = new JsonStreamSplitter();
    expect(s.push('{"type":"ADDED","obj')).toEqual([]);
    expect(s.idle).toBe(false);
    expect(() => new JsonStreamSplitter().push('{"a":1} x')).toThrow(/unexpected 'x'/);
  });
});

describe('errors from Status bodies', () => {
  it('keeps code, reason and message of a Status', () => {
    const err = errorFromResponse(404, JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'pods "x" not found', reason: 'NotFound', details: { name: 'x', kind: 'pods' }, code: 404 }));
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err.code).toBe(404);
    expect(err.reason).toBe('NotFound');
    expect(err.message).toBe('pods "x" not found');
    expect(isNotFound(err)).toBe(true);
    expect(isConflict(err)).toBe(false);
  });

  it('tells Conflict from AlreadyExists (both 409) and recognises 410 Expired', () => {
    const conflict = errorFromResponse(409, JSON.stringify({ kind: 'Status', reason: 'Conflict', code: 409, message: 'modified' }));
    const exists = errorFromResponse(409, JSON.stringify({ kind: 'Status', reason: 'AlreadyExists', code: 409, message: 'exists' }));
    expect([isConflict(conflict), isAlreadyExists(conflict)]).toEqual([true, false]);
    expect([isConflict(exists), isAlreadyExists(exists)]).toEqual([false, true]);
    expect(isGone(errorFromResponse(410, JSON.stringify({ kind: 'Status', reason: 'Expired', code: 410, message: 'too old resource version: 1 (5)' })))).toBe(true);
  });

  it('builds a Status for a body that is not one', () => {
    const err = errorFromResponse(502, '<html>Bad Gateway</html>');
    expect(err.code).toBe(502);
    expect(err.message).toContain('HTTP 502');
    expect(err.message).toContain('Bad Gateway');
    expect(errorFromResponse(404, '').reason).toBe('NotFound');
  });
});

describe('resource paths', () => {
  it('builds core, group, cluster-scoped and subresource paths', () => {
    expect(resourcePath(PODS, 'default')).toBe('/api/v1/namespaces/default/pods');
    expect(resourcePath(PODS, undefined)).toBe('/api/v1/pods');
    expect(resourcePath(PODS, 'ns', 'web-1', 'binding')).toBe('/api/v1/namespaces/ns/pods/web-1/binding');
    expect(resourcePath(NODES, undefined, 'n1', 'status')).toBe('/api/v1/nodes/n1/status');
    expect(resourcePath(DEPLOYMENTS, 'default', 'web', 'scale')).toBe('/apis/apps/v1/namespaces/default/deployments/web/scale');
    expect(resourcePath(LEASES, 'kube-system', 'kube-scheduler')).toBe('/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler');
    expect(() => resourcePath(PODS, undefined, 'x')).toThrow(/namespaced/);
  });
});

describe('kubeconfig', () => {
  const text = `apiVersion: v1
kind: Config
clusters:
- name: ketch
  cluster:
    server: http://127.0.0.1:6443/
- name: other
  cluster:
    server: http://10.0.0.1:8080
contexts:
- name: ketch
  context: { cluster: ketch, namespace: team-a }
- name: other
  context: { cluster: other }
current-context: ketch
`;
  it('resolves the current context, or a named one', () => {
    expect(parseKubeconfig(text)).toEqual({ server: 'http://127.0.0.1:6443', context: 'ketch', cluster: 'ketch', namespace: 'team-a', credentials: {} });
    expect(parseKubeconfig(text, 'f', 'other').server).toBe('http://10.0.0.1:8080');
  });
  it('explains what is wrong', () => {
    expect(() => parseKubeconfig(text, 'f', 'missing')).toThrow(/context "missing" not found/);
    expect(() => parseKubeconfig(text.replace('http://127.0.0.1:6443/', 'ftp://x:6443'), 'f')).toThrow(/expected an http:\/\/ or https:\/\/ URL/);
    expect(() => parseKubeconfig('current-context: x\n', 'f')).toThrow(/no contexts list/);
    expect(() => parseKubeconfig(': : :', 'f')).toThrow(/f:/);
  });
});

describe('time formats', () => {
  it('MicroTime has six fractional digits; Time none', () => {
    const d = new Date(Date.UTC(2024, 4, 6, 7, 8, 9, 123));
    expect(formatMicroTime(d)).toBe('2024-05-06T07:08:09.123000Z');
    expect(formatTime(d)).toBe('2024-05-06T07:08:09Z');
  });
});
