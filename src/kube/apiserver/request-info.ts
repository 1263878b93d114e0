// URL path → what a resource request is about, as k8s.io/apiserver's RequestInfoFactory reads it:
//   /api/v1/[watch/][namespaces/<ns>/]<resource>[/<name>[/<subresource>]]
//   /apis/<group>/<version>/[watch/][namespaces/<ns>/]<resource>[/<name>[/<subresource>]]
// with the namespaces special case: /api/v1/namespaces/<name>/{status,finalize} address the
// namespace itself, not a resource called "status" inside it.

export type RequestVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export interface ResourceRequest {
  readonly group: string;
  readonly version: string;
  /** The namespace from the path; '' when the path names none. */
  readonly namespace: string;
  readonly resource: string;
  /** '' for collection requests. */
  readonly name: string;
  /** '' when none. */
  readonly subresource: string;
  readonly verb: RequestVerb;
}

/** Parses the path of a resource request; undefined when it is not one (discovery, /version...). */
export function parseResourcePath(method: string, path: string, query: URLSearchParams): ResourceRequest | undefined {
  const parts = path.split('/').filter((p) => p !== '').map(decodePathSegment);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    version = parts[1] as string;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1] as string;
    version = parts[2] as string;
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  let legacyWatch = false;
  if (rest[0] === 'watch') {
    legacyWatch = true;
    rest = rest.slice(1);
  }
  let namespace = '';
  if (rest[0] === 'namespaces' && rest.length >= 2) {
    if (rest.length > 2 && rest[2] !== 'status' && rest[2] !== 'finalize') {
      namespace = rest[1] as string;
      rest = rest.slice(2);
    }
  }
  if (rest.length === 0 || rest.length > 3) return undefined;
  const resource = rest[0] as string;
  const name = rest[1] ?? '';
  const subresource = rest[2] ?? '';
  // The namespace object's own namespace field is its name (kube sets it that way too).
  if (resource === 'namespaces' && group === '' && name !== '') namespace = name;
  const isWatch = legacyWatch || isTrue(query.get('watch'));
  let verb: RequestVerb;
  switch (method) {
    case 'GET':
    case 'HEAD':
      verb = isWatch ? 'watch' : name === '' ? 'list' : 'get';
      break;
    case 'POST':
      verb = 'create';
      break;
    case 'PUT':
      verb = 'update';
      break;
    case 'PATCH':
      verb = 'patch';
      break;
    case 'DELETE':
      verb = name === '' ? 'deletecollection' : 'delete';
      break;
    default:
      return undefined;
  }
  return { group, version, namespace, resource, name, subresource, verb };
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** kube's boolean query parameters: "true", "1" (and any strconv.ParseBool true). */
export function isTrue(value: string | null): boolean {
  return value === 'true' || value === '1' || value === 'True' || value === 'TRUE' || value === 't' || value === 'T';
}
