// OpenAPI documents for kubectl (explain, client-side validation, apply's patch metadata), built by
// the machinery: /openapi/v2 as gnostic protobuf, /openapi/v3 as client-go's discovery document
// plus one JSON document per group version.

import { documentEtag, OPENAPI_V2_PROTOBUF_CONTENT_TYPE, openapiV2Json, openapiV2Protobuf, openapiV3Discovery, openapiV3Document } from '../machinery/openapi.js';
import { parseMediaRanges } from './negotiation.js';

export interface OpenApiAnswer {
  readonly contentType: string;
  readonly body: Buffer;
  readonly etag?: string;
}

let v2Protobuf: OpenApiAnswer | undefined;
let v2Json: OpenApiAnswer | undefined;

/**
 * kubectl asks for protobuf. The Content-Type must not echo the Accept's "@" form (kubectl's mime
 * parser rejects it, REFERENCE.md C2); JSON goes to clients that ask for JSON only.
 */
export function openApiV2(accept: string | undefined): OpenApiAnswer {
  const wantsProtobuf = accept === undefined || parseMediaRanges(accept).some((r) => r.type.includes('protobuf'));
  if (wantsProtobuf) {
    if (v2Protobuf === undefined) {
      const body = Buffer.from(openapiV2Protobuf());
      v2Protobuf = { contentType: OPENAPI_V2_PROTOBUF_CONTENT_TYPE, body, etag: documentEtag(body) };
    }
    return v2Protobuf;
  }
  if (v2Json === undefined) {
    const body = Buffer.from(JSON.stringify(openapiV2Json()), 'utf8');
    v2Json = { contentType: 'application/json', body, etag: documentEtag(body) };
  }
  return v2Json;
}

/** /openapi/v3 (the index) and /openapi/v3/<group-version>; undefined = 404. */
export function openApiV3(path: string, _accept: string | undefined): OpenApiAnswer | undefined {
  if (path === '') return { contentType: 'application/json', body: Buffer.from(JSON.stringify(openapiV3Discovery()), 'utf8') };
  const doc = openapiV3Document(path);
  if (doc === undefined) return undefined;
  return { contentType: 'application/json', body: Buffer.from(doc.json, 'utf8'), etag: `"${doc.hash}"` };
}
