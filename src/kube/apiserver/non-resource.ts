// The endpoints that are not resources: discovery (/api, /apis, group and group-version
// documents), /version, the health checks (/healthz, /livez, /readyz) and OpenAPI.

import { PROMETHEUS_CONTENT_TYPE } from '../../util/prometheus.js';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { apiGroup, apiGroupList, apiResourceList, apiVersions } from '../machinery/discovery.js';
import { writeJson } from './http-io.js';
import { openApiV2, openApiV3, type OpenApiAnswer } from './openapi-adapter.js';

/** The Kubernetes version this server speaks (kubectl's gcloud dispatcher picks its binary by it). */
export const kubernetesVersion = { major: '1', minor: '31', gitVersion: 'v1.31.0' };

export interface HealthCheck {
  readonly name: string;
  check(): Promise<void>;
}

export interface NonResourceDeps {
  /** host:port clients reached us at (for /api's serverAddressByClientCIDRs). */
  readonly serverAddress: (req: IncomingMessage) => string;
  readonly readyChecks: readonly HealthCheck[];
  readonly liveChecks: readonly HealthCheck[];
  /** Prometheus text for /metrics. */
  readonly metrics: () => Promise<string>;
}

export function versionInfo(): Record<string, string> {
  return {
    major: kubernetesVersion.major,
    minor: kubernetesVersion.minor,
    gitVersion: kubernetesVersion.gitVersion,
    gitCommit: 'ketch',
    gitTreeState: 'clean',
    buildDate: '2024-08-13T07:28:49Z',
    goVersion: `node${process.versions.node}`,
    compiler: 'ketch',
    platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
  };
}

/** Serves the request if it is a non-resource path; returns false otherwise. */
export async function handleNonResource(deps: NonResourceDeps, req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<boolean> {
  const method = req.method ?? 'GET';
  const parts = path.split('/').filter((p) => p !== '');
  const read = method === 'GET' || method === 'HEAD';
  if (path === '/version' || path === '/version/') {
    if (!read) return methodNotAllowed(res);
    writeJson(res, 200, versionInfo());
    return true;
  }
  if (path === '/metrics') {
    if (!read) return methodNotAllowed(res);
    const text = await deps.metrics();
    res.writeHead(200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text) });
    res.end(method === 'HEAD' ? undefined : text);
    return true;
  }
  if (parts[0] === 'healthz' || parts[0] === 'livez' || parts[0] === 'readyz') {
    if (!read) return methodNotAllowed(res);
    const checks = parts[0] === 'livez' ? deps.liveChecks : deps.readyChecks;
    await health(res, parts[0], checks, query.has('verbose'), parts[1]);
    return true;
  }
  if (parts[0] === 'openapi' || path === '/swagger-2.0.0.pb-v1') {
    if (!read) return methodNotAllowed(res);
    const answer: OpenApiAnswer | undefined = parts[1] === 'v3' ? openApiV3(parts.slice(2).join('/'), req.headers.accept) : openApiV2(req.headers.accept);
    if (answer === undefined) return false;
    res.writeHead(200, { 'Content-Type': answer.contentType, 'Content-Length': answer.body.length, 'Cache-Control': 'no-cache, private', ...(answer.etag === undefined ? {} : { ETag: answer.etag }) });
    res.end(method === 'HEAD' ? undefined : answer.body);
    return true;
  }
  if (!read) {
    if (path === '/api' || path === '/apis' || (parts[0] === 'apis' && parts.length <= 3) || (parts[0] === 'api' && parts.length <= 2)) return methodNotAllowed(res);
    return false;
  }
  if (parts[0] === 'api' && parts.length === 1) {
    writeJson(res, 200, apiVersions(deps.serverAddress(req)));
    return true;
  }
  if (parts[0] === 'api' && parts.length === 2) {
    const list = apiResourceList('', parts[1] as string);
    if (list === undefined) return false;
    writeJson(res, 200, list);
    return true;
  }
  if (parts[0] === 'apis' && parts.length === 1) {
    writeJson(res, 200, apiGroupList());
    return true;
  }
  if (parts[0] === 'apis' && parts.length === 2) {
    const group = apiGroup(parts[1] as string);
    if (group === undefined) return false;
    writeJson(res, 200, group);
    return true;
  }
  if (parts[0] === 'apis' && parts.length === 3) {
    const list = apiResourceList(parts[1] as string, parts[2] as string);
    if (list === undefined) return false;
    writeJson(res, 200, list);
    return true;
  }
  if (parts.length === 0) {
    writeJson(res, 200, { paths: ['/api', '/api/v1', '/apis', ...apiGroupList().groups.flatMap((g) => [`/apis/${g.name}`, ...g.versions.map((v) => `/apis/${v.groupVersion}`)]), '/healthz', '/livez', '/openapi/v2', '/openapi/v3', '/readyz', '/version'] });
    return true;
  }
  return false;
}

function methodNotAllowed(res: ServerResponse): boolean {
  res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('Method Not Allowed\n');
  return true;
}

/** kube's health output: "ok", or "[-]etcd failed: reason withheld" lines and a 500. */
async function health(res: ServerResponse, endpoint: string, checks: readonly HealthCheck[], verbose: boolean, only: string | undefined): Promise<void> {
  const selected = only === undefined ? checks : checks.filter((c) => c.name === only);
  if (only !== undefined && selected.length === 0) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('404 page not found\n');
    return;
  }
  const results = await Promise.all(
    selected.map(async (c) => {
      try {
        await c.check();
        return { name: c.name, ok: true };
      } catch {
        return { name: c.name, ok: false };
      }
    }),
  );
  const failed = results.some((r) => !r.ok);
  let body: string;
  if (!failed && !verbose) {
    body = 'ok';
  } else {
    const lines = results.map((r) => (r.ok ? `[+]${r.name} ok` : `[-]${r.name} failed: reason withheld`));
    body = `${['[+]ping ok', ...lines].join('\n')}\n${failed ? `${endpoint} check failed` : `${endpoint} check passed`}\n`;
  }
  res.writeHead(failed ? 500 : 200, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  res.end(body);
}
