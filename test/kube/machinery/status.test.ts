// Status errors against kube-apiserver's texts (k8s.io/apimachinery pkg/api/errors/errors.go and
// pkg/util/validation/field/errors.go); the sample messages are what a real cluster answers,
// e.g. `kubectl get pod nope` → `pods "nope" not found`.
import { describe, expect, it } from 'vitest';

import {
  KubeStatusError,
  aggregateMessage,
  alreadyExists,
  badRequest,
  conflict,
  duplicate,
  fieldErrorBody,
  forbidden,
  gone,
  goQuote,
  internalError,
  invalid,
  invalidValue,
  methodNotAllowed,
  namespaceTerminating,
  notAcceptable,
  notFound,
  notSupported,
  required,
  successStatus,
  toStatus,
  tooLargeResourceVersion,
  tooLong,
  unsupportedMediaType,
} from '../../../src/kube/machinery/status.js';

describe('status errors', () => {
  it('404 NotFound for core and grouped resources', () => {
    const e = notFound('pods', 'nope');
    expect(e).toBeInstanceOf(KubeStatusError);
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe(404);
    expect(e.message).toBe('pods "nope" not found');
    expect(e.status).toEqual({
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: 'pods "nope" not found', reason: 'NotFound', details: { name: 'nope', kind: 'pods' }, code: 404,
    });
    // Key order matters to nobody's parser but keeps our bodies diffable against kube's.
    expect(Object.keys(e.status)).toEqual(['kind', 'apiVersion', 'metadata', 'status', 'message', 'reason', 'details', 'code']);
    const d = notFound({ group: 'apps', resource: 'deployments' }, 'web');
    expect(d.message).toBe('deployments.apps "web" not found');
    expect(d.status.details).toEqual({ name: 'web', group: 'apps', kind: 'deployments' });
    expect(notFound('leases.coordination.k8s.io', 'x').status.details).toEqual({ name: 'x', group: 'coordination.k8s.io', kind: 'leases' });
    expect(notFound('namespaces', 'ghost').message).toBe('namespaces "ghost" not found');
  });

  it('409 AlreadyExists and Conflict with the optimistic-lock text', () => {
    const a = alreadyExists('configmaps', 'demo');
    expect([a.code, a.reason, a.message]).toEqual([409, 'AlreadyExists', 'configmaps "demo" already exists']);
    const c = conflict('pods', 'x');
    expect([c.code, c.reason]).toEqual([409, 'Conflict']);
    expect(c.message).toBe(
      'Operation cannot be fulfilled on pods "x": the object has been modified; please apply your changes to the latest version and try again',
    );
    expect(conflict('deployments.apps', 'web', 'StorageError: precondition failed').message).toBe(
      'Operation cannot be fulfilled on deployments.apps "web": StorageError: precondition failed',
    );
  });

  it('422 Invalid: one error alone, several bracketed, causes per field', () => {
    const one = invalid('Pod', 'x', [required('spec.containers[0].image')]);
    expect(one.code).toBe(422);
    expect(one.message).toBe('Pod "x" is invalid: spec.containers[0].image: Required value');
    expect(one.status.details).toEqual({
      name: 'x', kind: 'Pod',
      causes: [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers[0].image' }],
    });
    const many = invalid({ group: 'apps', kind: 'Deployment' }, 'web', [
      required('spec.selector'),
      invalidValue('spec.replicas', -1, 'must be greater than or equal to 0'),
      invalidValue('metadata.name', 'Web_1', "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"),
    ]);
    expect(many.message).toBe(
      'Deployment.apps "web" is invalid: [spec.selector: Required value, spec.replicas: Invalid value: -1: must be greater than or equal to 0, ' +
        'metadata.name: Invalid value: "Web_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\']',
    );
    expect(many.status.details?.group).toBe('apps');
    expect(many.status.details?.kind).toBe('Deployment');
    expect(many.status.details?.causes?.[1]).toEqual({
      reason: 'FieldValueInvalid', message: 'Invalid value: -1: must be greater than or equal to 0', field: 'spec.replicas',
    });
    expect(invalid('Deployment.apps', 'w', []).message).toBe('Deployment.apps "w" is invalid');
    expect(invalid('Deployment.apps', 'w', []).status.details?.group).toBe('apps');
  });

  it('formats field error bodies like field.Error.ErrorBody', () => {
    expect(fieldErrorBody(notSupported('spec.restartPolicy', 'Sometimes', ['Always', 'OnFailure', 'Never']))).toBe(
      'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    );
    expect(fieldErrorBody(duplicate('spec.containers[1].name', 'c'))).toBe('Duplicate value: "c"');
    expect(fieldErrorBody(invalidValue('spec.selector', { matchLabels: { b: '2', a: '1' } }, 'bad'))).toBe(
      'Invalid value: {"matchLabels":{"a":"1","b":"2"}}: bad',
    );
    expect(fieldErrorBody(invalidValue('x', true))).toBe('Invalid value: true');
    expect(fieldErrorBody(invalidValue('x', null))).toBe('Invalid value: null');
    expect(fieldErrorBody(required('x', 'must be set'))).toBe('Required value: must be set');
    expect(fieldErrorBody(tooLong('metadata.annotations', 262144))).toBe('Too long: may not be more than 262144 bytes');
    expect(aggregateMessage(['a', 'a'])).toBe('a');
    expect(aggregateMessage(['a', 'b', 'a'])).toBe('[a, b]');
  });

  it('quotes like Go %q', () => {
    expect(goQuote('a"b\\c\nd')).toBe('"a\\"b\\\\c\\nd"');
    expect(goQuote('\u0001')).toBe('"\\x01"');
    expect(goQuote('héllo')).toBe('"héllo"');
  });

  it('400, 403, 405, 406, 410, 415, 500, 504', () => {
    expect(badRequest('bad').status).toEqual({
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'bad', reason: 'BadRequest', code: 400,
    });
    expect(forbidden('pods', 'p', 'no').message).toBe('pods "p" is forbidden: no');
    expect(forbidden('pods', '', 'no').message).toBe('pods is forbidden: no');
    expect(forbidden('', '', 'no').message).toBe('forbidden: no');
    const t = namespaceTerminating('pods', 'p', 'gone');
    expect(t.code).toBe(403);
    expect(t.message).toBe('pods "p" is forbidden: unable to create new content in namespace gone because it is being terminated');
    expect(t.status.details?.causes?.[0]?.reason).toBe('NamespaceTerminating');
    const m = methodNotAllowed('deployments.apps', 'create');
    expect([m.code, m.reason, m.message]).toEqual([405, 'MethodNotAllowed', 'create is not supported on resources of kind "deployments.apps"']);
    const g = gone(5, 120);
    expect([g.code, g.reason, g.message]).toEqual([410, 'Expired', 'too old resource version: 5 (120)']);
    const u = unsupportedMediaType(['application/json-patch+json', 'application/merge-patch+json']);
    expect([u.code, u.reason]).toEqual([415, 'UnsupportedMediaType']);
    expect(u.message).toBe(
      'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json',
    );
    expect(notAcceptable(['application/json']).code).toBe(406);
    const i = internalError(new Error('boom'));
    expect([i.code, i.message]).toEqual([500, 'Internal error occurred: boom']);
    expect(i.status.details).toEqual({ causes: [{ message: 'boom' }] });
    const big = tooLargeResourceVersion(100, 50);
    expect([big.code, big.reason, big.message]).toEqual([504, 'Timeout', 'Timeout: Too large resource version: 100, current: 50']);
  });

  it('turns anything thrown into a Status', () => {
    expect(toStatus(notFound('pods', 'a')).code).toBe(404);
    expect(toStatus(new TypeError('x is undefined'))).toMatchObject({ code: 500, reason: 'InternalError', message: 'Internal error occurred: x is undefined' });
    expect(toStatus('weird')).toMatchObject({ code: 500 });
    expect(successStatus({ name: 'a', kind: 'pods' })).toEqual({
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: 'a', kind: 'pods' }, code: 200,
    });
  });
});
