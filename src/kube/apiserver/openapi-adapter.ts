// OpenAPI documents for kubectl. kubectl 1.20 aborts apply/create when /openapi/v2 errors, but an
// empty protobuf document is fine (validation is skipped and apply falls back to its built-in
// patch metadata, REFERENCE.md C2). The machinery's openapi module supplies real schemas.

export interface OpenApiAnswer {
  readonly contentType: string;
  readonly body: Buffer;
  readonly etag?: string;
}

/** The Content-Type must not echo the Accept's "@" form (kubectl's mime parser rejects it). */
const protobufV2 = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

export function openApiV2(_accept: string | undefined): OpenApiAnswer {
  return { contentType: protobufV2, body: Buffer.alloc(0) };
}

/** /openapi/v3 (the root index) and /openapi/v3/<group-version>; undefined = 404. */
export function openApiV3(_path: string, _accept: string | undefined): OpenApiAnswer | undefined {
  return undefined;
}
