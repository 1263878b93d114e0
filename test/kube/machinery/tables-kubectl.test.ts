// Our Tables rendered by real kubectl: a loopback stub serves discovery and answers list requests
// that ask for `as=Table` (REFERENCE.md C1/C4) with toTable(); kubectl must print kube's columns,
// -o wide columns, the NAMESPACE column for -A and labels for --show-labels (both read from
// row.object's PartialObjectMetadata). Needs kubectl on PATH (or $KUBECTL); without it this fails.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { apiGroupList, apiResourceList, apiVersions } from '../../../src/kube/machinery/discovery.js';
import type { JsonObject } from '../../../src/kube/machinery/json.js';
import { OPENAPI_V2_PROTOBUF_CONTENT_TYPE, openapiV2Protobuf } from '../../../src/kube/machinery/openapi.js';
import { findResource } from '../../../src/kube/machinery/resources.js';
import { toTable } from '../../../src/kube/machinery/tables.js';

const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const NOW = Date.now();
const ago = (ms: number): string => new Date(NOW - ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const pods: JsonObject[] = [
  {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'default', labels: { app: 'web' }, creationTimestamp: ago(5 * 60_000) },
    spec: { nodeName: 'n1', containers: [{ name: 'c' }] },
    status: { phase: 'Running', podIPs: [{ ip: '10.0.0.5' }], containerStatuses: [{ name: 'c', ready: true, restartCount: 0, state: { running: {} } }] },
  },
  {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'batch-1', namespace: 'jobs', creationTimestamp: ago(30_000) },
    spec: { containers: [{ name: 'c' }] },
    status: { phase: 'Pending' },
  },
];
const deployments: JsonObject[] = [
  {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', creationTimestamp: ago(3 * 3_600_000) },
    spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { spec: { containers: [{ name: 'nginx', image: 'nginx:1.21' }] } } },
    status: { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 },
  },
];

describe('kubectl get renders our server-side Tables', () => {
  let server: Server;
  let port = 0;
  let calls = 0;
  const dir = mkdtempSync(join(tmpdir(), 'ketch-tables-'));

  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://stub');
      const json = (code: number, v: unknown): void => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(v));
      };
      const wantsTable = (req.headers.accept ?? '').includes('as=Table');
      const p = url.pathname;
      if (p === '/api') return json(200, apiVersions(`127.0.0.1:${port}`));
      if (p === '/apis') return json(200, apiGroupList());
      if (p === '/api/v1') return json(200, apiResourceList('', 'v1'));
      if (p === '/apis/apps/v1') return json(200, apiResourceList('apps', 'v1'));
      if (p === '/apis/coordination.k8s.io/v1') return json(200, apiResourceList('coordination.k8s.io', 'v1'));
      if (p === '/openapi/v2') {
        res.writeHead(200, { 'content-type': OPENAPI_V2_PROTOBUF_CONTENT_TYPE });
        return res.end(Buffer.from(openapiV2Protobuf()));
      }
      const list = (items: JsonObject[], kind: 'Pod' | 'Deployment'): void => {
        calls++;
        const info = kind === 'Pod' ? findResource('', 'v1', 'pods') : findResource('apps', 'v1', 'deployments');
        if (!wantsTable || info === undefined) return json(406, {});
        const include = url.searchParams.get('includeObject');
        json(200, toTable(info, items, { now: NOW, listMeta: { resourceVersion: '10' }, includeObject: include === 'Object' ? 'Object' : 'Metadata' }));
      };
      if (p === '/api/v1/namespaces/default/pods') return list(pods.filter((x) => (x.metadata as JsonObject).namespace === 'default'), 'Pod');
      if (p === '/api/v1/pods') return list(pods, 'Pod');
      if (p === '/apis/apps/v1/namespaces/default/deployments') return list(deployments, 'Deployment');
      return json(404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'NotFound', code: 404, message: 'not found' });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  function kubectl(...args: string[]): Promise<string[]> {
    const cacheDir = join(dir, `cache-${calls}-${args.join('_').replace(/[^a-z0-9]/gi, '')}`);
    return new Promise((resolve, reject) => {
      execFile(KUBECTL, ['--server', `http://127.0.0.1:${port}`, '--cache-dir', cacheDir, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
        if (err !== null) reject(new Error(`kubectl ${args.join(' ')}: ${stderr}`));
        else resolve(stdout.trimEnd().split('\n').map((l) => l.trim().split(/\s{2,}/).join(' | ')));
      });
    });
  }

  it('pods: default and wide columns', async () => {
    expect(await kubectl('get', 'pods')).toEqual(['NAME | READY | STATUS | RESTARTS | AGE', 'web-1 | 1/1 | Running | 0 | 5m']);
    expect(await kubectl('get', 'po', '-o', 'wide')).toEqual([
      'NAME | READY | STATUS | RESTARTS | AGE | IP | NODE | NOMINATED NODE | READINESS GATES',
      'web-1 | 1/1 | Running | 0 | 5m | 10.0.0.5 | n1 | <none> | <none>',
    ]);
  }, 90_000);

  it('-A adds NAMESPACE and --show-labels adds LABELS from the rows’ PartialObjectMetadata', async () => {
    expect(await kubectl('get', 'pods', '-A')).toEqual([
      'NAMESPACE | NAME | READY | STATUS | RESTARTS | AGE',
      'default | web-1 | 1/1 | Running | 0 | 5m',
      'jobs | batch-1 | 0/1 | Pending | 0 | 30s',
    ]);
    expect(await kubectl('get', 'pods', '--show-labels')).toEqual(['NAME | READY | STATUS | RESTARTS | AGE | LABELS', 'web-1 | 1/1 | Running | 0 | 5m | app=web']);
  }, 90_000);

  it('deployments, also sorted with includeObject=Object', async () => {
    expect(await kubectl('get', 'deploy', '-o', 'wide')).toEqual([
      'NAME | READY | UP-TO-DATE | AVAILABLE | AGE | CONTAINERS | IMAGES | SELECTOR',
      'web | 2/3 | 3 | 2 | 3h | nginx | nginx:1.21 | app=web',
    ]);
    expect((await kubectl('get', 'deployments', '--sort-by', '.metadata.name'))[1]).toBe('web | 2/3 | 3 | 2 | 3h');
  }, 90_000);

});
