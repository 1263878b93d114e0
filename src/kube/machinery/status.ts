// Kubernetes `Status` errors with kube-apiserver's exact codes, reasons and message formats
// (k8s.io/apimachinery pkg/api/errors/errors.go, pkg/util/validation/field/errors.go,
// pkg/util/errors aggregate.go, apiserver endpoints/handlers/negotiation/errors.go). Clients
// match on reason and code, people read the message, so both follow kube to the letter.

export type StatusReason =
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Invalid'
  | 'ServerTimeout'
  | 'Timeout'
  | 'TooManyRequests'
  | 'BadRequest'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'InternalError'
  | 'Expired'
  | 'ServiceUnavailable';

export type CauseType =
  | 'FieldValueNotFound'
  | 'FieldValueRequired'
  | 'FieldValueDuplicate'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueTooMany'
  | 'InternalError'
  | 'FieldValueTypeInvalid'
  | 'UnexpectedServerResponse'
  | 'FieldManagerConflict'
  | 'ResourceVersionTooLarge'
  | 'NamespaceTerminating';

/** metav1.StatusCause as serialised: the Go field Type is the JSON key "reason". */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: StatusReason;
  details?: StatusDetails;
  code: number;
}

/** A thrown Status; handlers answer `code` with `status` as the body. */
export class KubeStatusError extends Error {
  readonly status: Status;
  readonly code: number;
  constructor(status: Status) {
    super(status.message ?? status.reason ?? `status ${status.code}`);
    this.name = 'KubeStatusError';
    this.status = status;
    this.code = status.code;
  }
  get reason(): StatusReason | undefined {
    return this.status.reason;
  }
}

export function isKubeStatusError(e: unknown): e is KubeStatusError {
  return e instanceof KubeStatusError;
}

/** The Status body for anything thrown: a KubeStatusError's own, else a 500 InternalError. */
export function toStatus(e: unknown): Status {
  if (e instanceof KubeStatusError) return e.status;
  return internalError(e).status;
}

function failure(code: number, reason: StatusReason, message: string, details?: StatusDetails): KubeStatusError {
  // Key order as kube serialises a Status: ..., message, reason, details, code.
  return new KubeStatusError(
    details === undefined
      ? { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }
      : { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code },
  );
}

/** A Success Status (kube answers some deletes with it). */
export function successStatus(details?: StatusDetails): Status {
  return details === undefined
    ? { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200 }
    : { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details, code: 200 };
}

/** schema.GroupResource; strings are "pods" or "deployments.apps" (resource, then group). */
export interface GroupResource {
  group: string;
  resource: string;
}
export type ResourceRef = GroupResource | string;

function toGroupResource(r: ResourceRef): GroupResource {
  if (typeof r !== 'string') return { group: r.group, resource: r.resource };
  const dot = r.indexOf('.');
  return dot < 0 ? { group: '', resource: r } : { group: r.slice(dot + 1), resource: r.slice(0, dot) };
}

function grString(gr: GroupResource): string {
  return gr.group === '' ? gr.resource : `${gr.resource}.${gr.group}`;
}

function resourceDetails(gr: GroupResource, name?: string): StatusDetails {
  // Go omits empty strings (omitempty), so do we.
  const d: StatusDetails = {};
  if (name !== undefined && name !== '') d.name = name;
  if (gr.group !== '') d.group = gr.group;
  if (gr.resource !== '') d.kind = gr.resource;
  return d;
}

/**
 * Go's %q for strings: double-quoted with Go escapes. Printable non-ASCII stays as is, like
 * strconv.Quote (close enough: Go would also escape unprintable Unicode).
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\u0007') out += '\\a';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\v') out += '\\v';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

// ---- 404, 409, 403, 405 -------------------------------------------------------------------

export function notFound(resource: ResourceRef, name: string): KubeStatusError {
  const gr = toGroupResource(resource);
  return failure(404, 'NotFound', `${grString(gr)} ${goQuote(name)} not found`, resourceDetails(gr, name));
}

export function alreadyExists(resource: ResourceRef, name: string): KubeStatusError {
  const gr = toGroupResource(resource);
  return failure(409, 'AlreadyExists', `${grString(gr)} ${goQuote(name)} already exists`, resourceDetails(gr, name));
}

/** The registry's text for a stale resourceVersion (apiserver storage OptimisticLockErrorMsg). */
export const OPTIMISTIC_LOCK_MESSAGE =
  'the object has been modified; please apply your changes to the latest version and try again';

/** `Operation cannot be fulfilled on pods "x": <message>` (409 Conflict). */
export function conflict(resource: ResourceRef, name: string, message: string = OPTIMISTIC_LOCK_MESSAGE): KubeStatusError {
  const gr = toGroupResource(resource);
  return failure(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${grString(gr)} ${goQuote(name)}: ${message}`,
    resourceDetails(gr, name),
  );
}

export function forbidden(resource: ResourceRef, name: string, message: string): KubeStatusError {
  const gr = toGroupResource(resource);
  let text: string;
  if (gr.group === '' && gr.resource === '') text = `forbidden: ${message}`;
  else if (name === '') text = `${grString(gr)} is forbidden: ${message}`;
  else text = `${grString(gr)} ${goQuote(name)} is forbidden: ${message}`;
  return failure(403, 'Forbidden', text, resourceDetails(gr, name));
}

/**
 * Creating in a namespace being deleted: kube's NamespaceLifecycle admission answer, a Forbidden
 * with a NamespaceTerminating cause (plugin/pkg/admission/namespace/lifecycle).
 */
export function namespaceTerminating(resource: ResourceRef, name: string, namespace: string): KubeStatusError {
  const e = forbidden(resource, name, `unable to create new content in namespace ${namespace} because it is being terminated`);
  const details = e.status.details ?? {};
  details.causes = [
    { reason: 'NamespaceTerminating', message: `namespace ${namespace} is being terminated`, field: 'metadata.namespace' },
  ];
  e.status.details = details;
  return e;
}

/** `<action> is not supported on resources of kind "pods"` (405). */
export function methodNotAllowed(resource: ResourceRef, action: string): KubeStatusError {
  const gr = toGroupResource(resource);
  return failure(
    405,
    'MethodNotAllowed',
    `${action} is not supported on resources of kind ${goQuote(grString(gr))}`,
    resourceDetails(gr),
  );
}

// ---- 400, 410, 415, 406, 413, 500, 503, 504 -------------------------------------------------

export function badRequest(message: string): KubeStatusError {
  return failure(400, 'BadRequest', message);
}

/** 410 Expired with any message (kube's NewResourceExpired). */
export function resourceExpired(message: string): KubeStatusError {
  return failure(410, 'Expired', message);
}

/** 410 Expired "too old resource version: X (Y)": Y is the oldest version still served. */
export function gone(requestedResourceVersion: number | string, oldestResourceVersion: number | string): KubeStatusError {
  return resourceExpired(`too old resource version: ${requestedResourceVersion} (${oldestResourceVersion})`);
}

/**
 * 504 Timeout for a resourceVersion newer than the store has seen (apiserver storage
 * NewTooLargeResourceVersionError): clients retry.
 */
export function tooLargeResourceVersion(requested: number, current: number, retryAfterSeconds = 1): KubeStatusError {
  const e = failure(504, 'Timeout', `Timeout: Too large resource version: ${requested}, current: ${current}`, {
    causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
    retryAfterSeconds,
  });
  return e;
}

/** 415 for a body type the endpoint does not take (apiserver negotiation errUnsupportedMediaType). */
export function unsupportedMediaType(accepted: readonly string[]): KubeStatusError {
  return failure(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
  );
}

/** 406 for an Accept header we cannot satisfy (apiserver negotiation errNotAcceptable). */
export function notAcceptable(accepted: readonly string[]): KubeStatusError {
  return failure(406, 'NotAcceptable', `only the following media types are accepted: ${accepted.join(', ')}`);
}

export function requestEntityTooLarge(message: string): KubeStatusError {
  return failure(413, 'RequestEntityTooLarge', `Request entity too large: ${message}`);
}

/**
 * kube's NewGenericServerResponse(422, …) as used for JSON patches that do not apply and
 * unsupported SMP shapes: 422 Invalid with a generic message that hides the reason; we keep the
 * message and add the reason as a cause.
 */
export function requestRejected(reason: string): KubeStatusError {
  return failure(422, 'Invalid', 'the server rejected our request due to an error in our request', {
    causes: [{ message: reason }],
  });
}

export function internalError(err: unknown): KubeStatusError {
  const text = err instanceof Error ? err.message : String(err);
  return failure(500, 'InternalError', `Internal error occurred: ${text}`, { causes: [{ message: text }] });
}

export function serviceUnavailable(message: string): KubeStatusError {
  return failure(503, 'ServiceUnavailable', message);
}

export function timeout(message: string, retryAfterSeconds = 0): KubeStatusError {
  return failure(504, 'Timeout', `Timeout: ${message}`, { retryAfterSeconds });
}

export function tooManyRequests(message: string, retryAfterSeconds: number): KubeStatusError {
  return failure(429, 'TooManyRequests', message, { retryAfterSeconds });
}

// ---- 422 Invalid and field errors ---------------------------------------------------------------

/** One field error (field.Error): validation returns these, `invalid` turns them into causes. */
export interface FieldError {
  type: CauseType;
  /** The field path as kube prints it: "spec.containers[0].name", "metadata.labels[app]". */
  field: string;
  /** The offending value; omitted for Required/Forbidden/TooLong, whose messages show no value. */
  value?: unknown;
  detail?: string;
}
/** What validation returns; the name the apiserver code uses. */
export type Cause = FieldError;

const TYPE_TEXT: Record<CauseType, string> = {
  FieldValueNotFound: 'Not found',
  FieldValueRequired: 'Required value',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueInvalid: 'Invalid value',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueForbidden: 'Forbidden',
  FieldValueTooLong: 'Too long',
  FieldValueTooMany: 'Too many',
  InternalError: 'Internal error',
  FieldValueTypeInvalid: 'Invalid value',
  UnexpectedServerResponse: 'Unexpected server response',
  FieldManagerConflict: 'Field manager conflict',
  ResourceVersionTooLarge: 'Resource version too large',
  NamespaceTerminating: 'Namespace terminating',
};

/** Go's json.Marshal of a JSON-like value: map keys sorted, no spaces. */
function goJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(goJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${goJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/** field.Error.ErrorBody(): the message without the field name. */
export function fieldErrorBody(e: FieldError): string {
  const text = TYPE_TEXT[e.type];
  let s: string;
  switch (e.type) {
    case 'FieldValueRequired':
    case 'FieldValueForbidden':
    case 'FieldValueTooLong':
    case 'InternalError':
      s = text;
      break;
    default: {
      const v = e.value;
      if (typeof v === 'string') s = `${text}: ${goQuote(v)}`;
      else if (typeof v === 'number' || typeof v === 'boolean') s = `${text}: ${String(v)}`;
      else s = `${text}: ${goJson(v)}`;
    }
  }
  if (e.detail !== undefined && e.detail !== '') s += `: ${e.detail}`;
  return s;
}

/** field.Error.Error(): "spec.containers[0].image: Required value". */
export function fieldErrorString(e: FieldError): string {
  return `${e.field}: ${fieldErrorBody(e)}`;
}

/** utilerrors aggregate text: one message alone, several as "[a, b]", duplicates dropped. */
export function aggregateMessage(messages: readonly string[]): string {
  const unique = [...new Set(messages)];
  if (unique.length === 1 && messages.length >= 1) return unique[0] ?? '';
  return `[${unique.join(', ')}]`;
}

/** Kind as a GroupKind: { group: 'apps', kind: 'Deployment' } or "Deployment.apps" or "Pod". */
export type KindRef = { group: string; kind: string } | string;

/**
 * 422 Invalid: `Pod "x" is invalid: spec.containers[0].image: Required value`, several errors as
 * `[e1, e2]`; details carry the group, kind, name and one cause per field error.
 */
export function invalid(kind: KindRef, name: string, errors: readonly FieldError[]): KubeStatusError {
  let group: string;
  let k: string;
  if (typeof kind === 'string') {
    const dot = kind.indexOf('.');
    group = dot < 0 ? '' : kind.slice(dot + 1);
    k = dot < 0 ? kind : kind.slice(0, dot);
  } else {
    group = kind.group;
    k = kind.kind;
  }
  const qualified = group === '' ? k : `${k}.${group}`;
  const causes = errors.map((e): StatusCause => ({ reason: e.type, message: fieldErrorBody(e), field: e.field }));
  const details: StatusDetails = {};
  if (name !== '') details.name = name;
  if (group !== '') details.group = group;
  details.kind = k;
  details.causes = causes;
  const message =
    errors.length === 0
      ? `${qualified} ${goQuote(name)} is invalid`
      : `${qualified} ${goQuote(name)} is invalid: ${aggregateMessage(errors.map(fieldErrorString))}`;
  return failure(422, 'Invalid', message, details);
}

// Field error constructors, named after kube's field.Required / field.Invalid / ...

export function required(field: string, detail?: string): FieldError {
  return detail === undefined ? { type: 'FieldValueRequired', field } : { type: 'FieldValueRequired', field, detail };
}

export function invalidValue(field: string, value: unknown, detail?: string): FieldError {
  const e: FieldError = { type: 'FieldValueInvalid', field, value };
  if (detail !== undefined) e.detail = detail;
  return e;
}

export function notSupported(field: string, value: unknown, validValues: readonly string[]): FieldError {
  const e: FieldError = { type: 'FieldValueNotSupported', field, value };
  if (validValues.length > 0) e.detail = `supported values: ${validValues.map(goQuote).join(', ')}`;
  return e;
}

export function duplicate(field: string, value: unknown): FieldError {
  return { type: 'FieldValueDuplicate', field, value };
}

export function fieldForbidden(field: string, detail: string): FieldError {
  return { type: 'FieldValueForbidden', field, detail };
}

export function fieldNotFound(field: string, value: unknown): FieldError {
  return { type: 'FieldValueNotFound', field, value };
}

export function tooLong(field: string, maxLength: number): FieldError {
  const unit = maxLength === 1 ? 'byte' : 'bytes';
  return { type: 'FieldValueTooLong', field, detail: `may not be more than ${maxLength} ${unit}` };
}
