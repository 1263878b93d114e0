// Errors the REST client raises. A server answer that is not 2xx becomes a KubeApiError carrying
// the Status body (code, reason), because callers branch on the reason exactly as client-go's
// apierrors.IsNotFound/IsConflict/... do. Failing to reach any apiserver is a separate error.

import type { Status } from './meta-types.js';

export class KubeApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly status: Status;

  constructor(status: Status, httpCode: number) {
    super(status.message !== undefined && status.message !== '' ? status.message : `the server responded with HTTP ${httpCode}`);
    this.name = 'KubeApiError';
    this.code = status.code ?? httpCode;
    this.reason = status.reason ?? reasonForCode(this.code);
    this.status = status;
  }
}

/** No apiserver could be reached (or every one failed mid-request); safe to retry later. */
export class ConnectionError extends Error {
  constructor(
    message: string,
    readonly causes: readonly Error[],
  ) {
    super(message);
    this.name = 'ConnectionError';
  }
}

/** The reason client-go infers from a bare HTTP code (apierrors.NewGenericServerResponse). */
export function reasonForCode(code: number): string {
  switch (code) {
    case 400: return 'BadRequest';
    case 401: return 'Unauthorized';
    case 403: return 'Forbidden';
    case 404: return 'NotFound';
    case 405: return 'MethodNotAllowed';
    case 406: return 'NotAcceptable';
    case 409: return 'Conflict';
    case 410: return 'Expired';
    case 413: return 'RequestEntityTooLarge';
    case 415: return 'UnsupportedMediaType';
    case 422: return 'Invalid';
    case 429: return 'TooManyRequests';
    case 500: return 'InternalError';
    case 503: return 'ServiceUnavailable';
    case 504: return 'Timeout';
    default: return 'Unknown';
  }
}

/**
 * The error for a non-2xx answer: the Status body when the server sent one, otherwise a Status
 * built from the HTTP code and the first bytes of the body (a proxy's HTML page, say).
 */
export function errorFromResponse(httpCode: number, body: string): KubeApiError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  if (isStatus(parsed)) return new KubeApiError(parsed, httpCode);
  const text = body.trim().slice(0, 200);
  return new KubeApiError(
    { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: httpCode, reason: reasonForCode(httpCode), message: text === '' ? `the server responded with HTTP ${httpCode}` : `the server responded with HTTP ${httpCode}: ${text}` },
    httpCode,
  );
}

export function isStatus(v: unknown): v is Status {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'Status';
}

function reasonIs(err: unknown, code: number, reason: string): boolean {
  return err instanceof KubeApiError && (err.reason === reason || (err.reason === 'Unknown' && err.code === code));
}

export const isNotFound = (err: unknown): boolean => reasonIs(err, 404, 'NotFound');
export const isAlreadyExists = (err: unknown): boolean => reasonIs(err, 409, 'AlreadyExists');
/** An optimistic-concurrency conflict (stale resourceVersion); AlreadyExists is not one. */
export const isConflict = (err: unknown): boolean => reasonIs(err, 409, 'Conflict');
/** 410: the resourceVersion asked for is compacted away; relist. */
export const isGone = (err: unknown): boolean => err instanceof KubeApiError && (err.code === 410 || err.reason === 'Expired' || err.reason === 'Gone');
export const isInvalid = (err: unknown): boolean => reasonIs(err, 422, 'Invalid');
export const isForbidden = (err: unknown): boolean => reasonIs(err, 403, 'Forbidden');

/** Errors worth retrying against the same or another apiserver. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof ConnectionError) return true;
  if (!(err instanceof KubeApiError)) return false;
  return err.code === 429 || err.code === 500 || err.code === 503 || err.code === 504;
}

/** One line for logs. */
export function describeError(err: unknown): string {
  if (err instanceof KubeApiError) return `${err.code} ${err.reason}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
