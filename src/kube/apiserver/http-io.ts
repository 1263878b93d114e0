// Reading request bodies and writing responses: JSON or YAML in, JSON or YAML out, and every
// error as a meta/v1 Status with its HTTP code (never a stack trace).

import type { IncomingMessage, ServerResponse } from 'node:http';

import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

import { isJsonObject, type JsonObject, type JsonValue } from '../machinery/json.js';
import { badRequest, requestEntityTooLarge, toStatus, unsupportedMediaType, type Status } from '../machinery/status.js';
import { decodeRbacProtobuf, protobufContentType } from '../machinery/rbac-protobuf.js';
import { rbacKinds } from '../machinery/rbac-validation.js';
import { parseMediaRanges } from './negotiation.js';

/** kube-apiserver's limit for a request body (3 MiB, DefaultMaxRequestSizeBytes). */
export const maxRequestBytes = 3 * 1024 * 1024;

export async function readBody(req: IncomingMessage, limitBytes = maxRequestBytes): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limitBytes) throw requestEntityTooLarge(`limit is ${limitBytes}`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** JSON (or YAML) text → JSON value; malformed text is a 400 that says where. */
export function parseBodyValue(body: Buffer, contentType: string | undefined, what: string): JsonValue {
  const type = parseMediaRanges(contentType ?? 'application/json')[0]?.type ?? 'application/json';
  const text = body.toString('utf8');
  if (text.trim() === '') throw badRequest(`the ${what} is empty`);
  if (type === 'application/yaml' || type === 'text/yaml' || type === 'application/apply-patch+yaml' || type === 'application/x-yaml') {
    try {
      const docs = parseYaml(text, { prettyErrors: false }) as unknown;
      return toJsonValue(docs);
    } catch (error) {
      throw badRequest(`error converting YAML to JSON: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    throw badRequest(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}

/** A create/update body: must be a JSON object, in JSON or YAML. */
export function parseObjectBody(body: Buffer, contentType: string | undefined, expectedKind: string): JsonObject {
  const type = parseMediaRanges(contentType ?? 'application/json')[0]?.type ?? 'application/json';
  if (type === protobufContentType && rbacKinds.has(expectedKind)) {
    try {
      return decodeRbacProtobuf(body);
    } catch (error) {
      throw badRequest(`the protobuf body is not a valid ${expectedKind}: ${(error as Error).message}`);
    }
  }
  if (!['application/json', 'application/yaml', 'text/yaml', 'application/x-yaml', '*/*'].includes(type)) {
    throw unsupportedMediaType(['application/json', 'application/yaml']);
  }
  const value = parseBodyValue(body, contentType, `request body (must be of type ${expectedKind})`);
  if (!isJsonObject(value)) throw badRequest(`the object provided is unrecognized (must be of type ${expectedKind}): body is not a JSON object`);
  return value;
}

function toJsonValue(value: unknown): JsonValue {
  if (value === undefined) return null;
  return JSON.parse(JSON.stringify(value)) as JsonValue;
}

export function writeJson(res: ServerResponse, code: number, body: unknown, encoding: 'json' | 'yaml' = 'json'): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = encoding === 'yaml' ? stringifyYaml(body) : JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': encoding === 'yaml' ? 'application/yaml' : 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
  });
  res.end(text);
}

/** A JSON text that is already serialised. */
export function writeRaw(res: ServerResponse, code: number, json: string): void {
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json), 'Cache-Control': 'no-cache, private' });
  res.end(json);
}

/** Any thrown value as a Status response (500 InternalError for non-Status errors). */
export function writeError(res: ServerResponse, error: unknown): Status {
  const status = toStatus(error);
  writeJson(res, status.code, status);
  return status;
}
