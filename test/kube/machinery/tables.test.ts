// Tables as kube-apiserver builds them for `kubectl get` (kubernetes pkg/printers/internalversion
// printers.go and its printers_test.go expectations; ages per apimachinery duration_test.go).
import { describe, expect, it } from 'vitest';

import type { JsonObject } from '../../../src/kube/machinery/json.js';
import { findResource } from '../../../src/kube/machinery/resources.js';
import { formatEndpoints, humanDuration, tableColumns, toTable } from '../../../src/kube/machinery/tables.js';

const NOW = Date.parse('2024-05-01T12:00:00Z');
const ago = (ms: number): string => new Date(NOW - ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

function cellsOf(kind: string, obj: JsonObject): unknown[] {
  return toTable(kind, [obj], { now: NOW }).rows[0]?.cells ?? [];
}

describe('humanDuration (apimachinery duration_test.go cases)', () => {
  it.each([
    [1 * S, '1s'], [70 * S, '70s'], [190 * S, '3m10s'], [70 * M, '70m'], [47 * H, '47h'], [49 * H, '2d1h'],
    [(8 * 24 + 2) * H, '8d'], [367 * 24 * H, '367d'], [(365 * 2 * 24 + 25) * H, '2y1d'], [(365 * 8 * 24 + 2) * H, '8y'],
    [5 * M, '5m'], [3 * M + 2 * S, '3m2s'], [4 * H, '4h'], [4 * H + 30 * M, '4h30m'], [-1 * S, '0s'], [-5 * S, '<invalid>'],
  ])('%d ms → %s', (ms, want) => {
    expect(humanDuration(ms)).toBe(want);
  });
});

describe('toTable', () => {
  it('pods: READY STATUS RESTARTS AGE + wide columns, PartialObjectMetadata rows', () => {
    const pod: JsonObject = {
      metadata: { name: 'web-1', namespace: 'default', creationTimestamp: ago(5 * M), labels: { app: 'web' } },
      spec: { nodeName: 'n1', containers: [{ name: 'a' }, { name: 'b' }] },
      status: {
        phase: 'Running', podIP: '10.0.0.5', podIPs: [{ ip: '10.0.0.5' }],
        containerStatuses: [
          { name: 'a', ready: true, restartCount: 2, state: { running: {} }, lastState: { terminated: { exitCode: 1, finishedAt: ago(3 * M) } } },
          { name: 'b', ready: false, restartCount: 0, state: { running: {} } },
        ],
      },
    };
    const t = toTable(findResource('', 'v1', 'pods') ?? 'Pod', [pod], { now: NOW, listMeta: { resourceVersion: '42' } });
    expect(t.kind).toBe('Table');
    expect(t.apiVersion).toBe('meta.k8s.io/v1');
    expect(t.metadata).toEqual({ resourceVersion: '42' });
    expect(t.columnDefinitions?.map((c) => [c.name, c.priority])).toEqual([
      ['Name', 0], ['Ready', 0], ['Status', 0], ['Restarts', 0], ['Age', 0], ['IP', 1], ['Node', 1], ['Nominated Node', 1], ['Readiness Gates', 1],
    ]);
    expect(t.columnDefinitions?.[0]?.format).toBe('name');
    expect(t.rows[0]?.cells).toEqual(['web-1', '1/2', 'Running', '2 (3m ago)', '5m', '10.0.0.5', 'n1', '<none>', '<none>']);
    expect(t.rows[0]?.object).toEqual({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: pod.metadata });
  });

  it('pod statuses: Pending, waiting reasons, Completed, Init, Terminating', () => {
    const base = (status: JsonObject, meta: JsonObject = {}): JsonObject => ({
      metadata: { name: 'p', creationTimestamp: ago(10 * S), ...meta }, spec: { containers: [{ name: 'c' }] }, status,
    });
    expect(cellsOf('Pod', base({ phase: 'Pending' })).slice(1, 5)).toEqual(['0/1', 'Pending', '0', '10s']);
    expect(cellsOf('Pod', base({ phase: 'Pending', containerStatuses: [{ name: 'c', state: { waiting: { reason: 'ContainerCreating' } } }] }))[2]).toBe('ContainerCreating');
    expect(cellsOf('Pod', base({ phase: 'Running', containerStatuses: [{ name: 'c', restartCount: 4, state: { waiting: { reason: 'CrashLoopBackOff' } } }] })).slice(2, 4)).toEqual([
      'CrashLoopBackOff', '4',
    ]);
    const done = toTable('Pod', [base({ phase: 'Succeeded', containerStatuses: [{ name: 'c', state: { terminated: { exitCode: 0, reason: 'Completed' } } }] })], { now: NOW }).rows[0];
    expect(done?.cells[2]).toBe('Completed');
    expect(done?.conditions).toEqual([{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }]);
    expect(cellsOf('Pod', base({ phase: 'Failed', containerStatuses: [{ name: 'c', state: { terminated: { exitCode: 137 } } }] }))[2]).toBe('ExitCode:137');
    expect(cellsOf('Pod', base({ phase: 'Running' }, { deletionTimestamp: ago(1 * S) }))[2]).toBe('Terminating');
    const init: JsonObject = {
      metadata: { name: 'p' }, spec: { initContainers: [{ name: 'i1' }, { name: 'i2' }], containers: [{ name: 'c' }] },
      status: { phase: 'Pending', initContainerStatuses: [{ name: 'i1', state: { terminated: { exitCode: 0 } } }, { name: 'i2', state: { running: {} } }] },
    };
    expect(cellsOf('Pod', init).slice(2, 5)).toEqual(['Init:1/2', '0', '<unknown>']);
  });

  it('nodes: status, roles, version, wide info', () => {
    const node: JsonObject = {
      metadata: { name: 'n1', creationTimestamp: ago(3 * D), labels: { 'node-role.kubernetes.io/control-plane': '', 'node-role.kubernetes.io/master': '' } },
      spec: { unschedulable: true },
      status: {
        conditions: [{ type: 'MemoryPressure', status: 'False' }, { type: 'Ready', status: 'True' }],
        addresses: [{ type: 'InternalIP', address: '192.168.0.2' }, { type: 'Hostname', address: 'n1' }],
        nodeInfo: { kubeletVersion: 'v1.20.2', osImage: 'Debian', kernelVersion: '6.1', containerRuntimeVersion: 'ketch://0.1' },
      },
    };
    expect(cellsOf('Node', node)).toEqual([
      'n1', 'Ready,SchedulingDisabled', 'control-plane,master', '3d', 'v1.20.2', '192.168.0.2', '<none>', 'Debian', '6.1', 'ketch://0.1',
    ]);
    expect(cellsOf('Node', { metadata: { name: 'n2' }, status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } }).slice(1, 3)).toEqual(['NotReady', '<none>']);
    expect(cellsOf('Node', { metadata: { name: 'n3' } })[1]).toBe('Unknown');
  });

  it('services: TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR', () => {
    expect(tableColumns('Service').map((c) => c.name)).toEqual(['Name', 'Type', 'Cluster-IP', 'External-IP', 'Port(s)', 'Age', 'Selector']);
    const svc = (spec: JsonObject, status: JsonObject = {}): JsonObject => ({ metadata: { name: 's', creationTimestamp: ago(2 * H) }, spec, status });
    expect(cellsOf('Service', svc({ type: 'ClusterIP', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }], selector: { k: 'dns', a: 'b' } }))).toEqual([
      's', 'ClusterIP', '10.96.0.10', '<none>', '53/UDP,53/TCP', '120m', 'a=b,k=dns',
    ]);
    expect(cellsOf('Service', svc({ type: 'NodePort', clusterIP: '10.96.0.11', ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }] })).slice(2, 5)).toEqual([
      '10.96.0.11', '<none>', '80:30080/TCP',
    ]);
    expect(cellsOf('Service', svc({ type: 'LoadBalancer', clusterIP: '10.96.0.12', ports: [] }))[3]).toBe('<pending>');
    expect(cellsOf('Service', svc({ type: 'LoadBalancer', ports: [] }, { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } }))[3]).toBe('1.2.3.4');
    expect(cellsOf('Service', svc({ type: 'ExternalName', externalName: 'example.com' })).slice(2, 5)).toEqual(['<none>', 'example.com', '<none>']);
    expect(cellsOf('Service', svc({ type: 'ClusterIP', clusterIP: 'None' }))[6]).toBe('<none>');
  });

  it('deployments and replicasets', () => {
    const d: JsonObject = {
      metadata: { name: 'web', creationTimestamp: ago(61 * S) },
      spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { spec: { containers: [{ name: 'nginx', image: 'nginx:1.21' }, { name: 'side', image: 'busybox' }] } } },
      status: { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 },
    };
    expect(tableColumns('Deployment').map((c) => c.name)).toEqual(['Name', 'Ready', 'Up-to-date', 'Available', 'Age', 'Containers', 'Images', 'Selector']);
    expect(cellsOf('Deployment', d)).toEqual(['web', '2/3', 3, 2, '61s', 'nginx,side', 'nginx:1.21,busybox', 'app=web']);
    expect(cellsOf('Deployment', { metadata: { name: 'x' }, spec: { selector: { matchLabels: { a: 'b' } } } }).slice(1, 4)).toEqual(['0/0', 0, 0]);
    const rs: JsonObject = { ...d, metadata: { name: 'web-abc', creationTimestamp: ago(61 * S) }, status: { replicas: 3, readyReplicas: 1 } };
    expect(tableColumns('ReplicaSet').map((c) => c.name)).toEqual(['Name', 'Desired', 'Current', 'Ready', 'Age', 'Containers', 'Images', 'Selector']);
    expect(cellsOf('ReplicaSet', rs)).toEqual(['web-abc', 3, 3, 1, '61s', 'nginx,side', 'nginx:1.21,busybox', 'app=web']);
  });

  it('namespaces, configmaps, secrets, serviceaccounts, leases, endpoints', () => {
    expect(cellsOf('Namespace', { metadata: { name: 'default', creationTimestamp: ago(9 * D) }, status: { phase: 'Active' } })).toEqual(['default', 'Active', '9d']);
    expect(cellsOf('ConfigMap', { metadata: { name: 'c' }, data: { a: '1', b: '2' }, binaryData: { c: 'AA==' } })).toEqual(['c', 3, '<unknown>']);
    expect(cellsOf('Secret', { metadata: { name: 's' }, type: 'Opaque', data: { a: 'MQ==' } })).toEqual(['s', 'Opaque', 1, '<unknown>']);
    expect(cellsOf('ServiceAccount', { metadata: { name: 'default' } })).toEqual(['default', 0, '<unknown>']);
    expect(cellsOf('Lease', { metadata: { name: 'kube-scheduler' }, spec: { holderIdentity: 'm1_abc' } })).toEqual(['kube-scheduler', 'm1_abc', '<unknown>']);
    expect(tableColumns('Lease').map((c) => c.name)).toEqual(['Name', 'Holder', 'Age']);
    expect(cellsOf('Endpoints', { metadata: { name: 'web' }, subsets: [{ addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }], ports: [{ port: 80 }, { port: 443 }] }] })).toEqual([
      'web', '10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...', '<unknown>',
    ]);
    expect(formatEndpoints({ subsets: [] })).toBe('<none>');
    expect(formatEndpoints({ subsets: [{ addresses: [{ ip: 'fd00::1' }], ports: [{ port: 80 }] }] })).toBe('[fd00::1]:80');
  });

  it('events: LAST SEEN TYPE REASON OBJECT MESSAGE with wide columns in between', () => {
    expect(tableColumns('Event').map((c) => `${c.name}:${c.priority}`)).toEqual([
      'Last Seen:0', 'Type:0', 'Reason:0', 'Object:0', 'Subobject:1', 'Source:1', 'Message:0', 'First Seen:1', 'Count:1', 'Name:1',
    ]);
    const ev: JsonObject = {
      metadata: { name: 'web.17a', namespace: 'default' },
      involvedObject: { kind: 'Pod', name: 'web', fieldPath: 'spec.containers{c}' },
      reason: 'Pulled', type: 'Normal', message: '  Successfully pulled\n', source: { component: 'kubelet', host: 'n1' },
      firstTimestamp: ago(10 * M), lastTimestamp: ago(30 * S), count: 3,
    };
    expect(cellsOf('Event', ev)).toEqual(['30s', 'Normal', 'Pulled', 'pod/web', 'spec.containers{c}', 'kubelet, n1', 'Successfully pulled', '10m', 3, 'web.17a']);
    const fresh: JsonObject = { metadata: { name: 'e' }, involvedObject: { kind: 'Node' }, eventTime: ago(5 * S), reportingComponent: 'ketch' };
    expect(cellsOf('Event', fresh)).toEqual(['5s', '', '', 'node', '', 'ketch', '', '5s', 1, 'e']);
  });

  it('includeObject, noHeaders and the default table for other kinds', () => {
    const cm: JsonObject = { kind: 'ConfigMap', metadata: { name: 'c' }, data: {} };
    expect(toTable('ConfigMap', [cm], { now: NOW, includeObject: 'Object' }).rows[0]?.object).toBe(cm);
    expect(toTable('ConfigMap', [cm], { now: NOW, includeObject: 'None' }).rows[0]).toEqual({ cells: ['c', 0, '<unknown>'] });
    expect(toTable('ConfigMap', [cm], { now: NOW, noHeaders: true }).columnDefinitions).toBeNull();
    expect(toTable('ConfigMap', [cm], { now: NOW, metaVersion: 'v1beta1' }).apiVersion).toBe('meta.k8s.io/v1beta1');
    const other = toTable('Widget', [{ metadata: { name: 'w', creationTimestamp: '2024-01-01T00:00:00Z' } }], { now: NOW });
    expect(other.columnDefinitions?.map((c) => [c.name, c.type])).toEqual([['Name', 'string'], ['Created At', 'date']]);
    expect(other.rows[0]?.cells).toEqual(['w', '2024-01-01T00:00:00Z']);
    // Every row has exactly one cell per column.
    for (const kind of ['Pod', 'Node', 'Service', 'Endpoints', 'Deployment', 'ReplicaSet', 'Namespace', 'ConfigMap', 'Secret', 'ServiceAccount', 'Lease', 'Event']) {
      expect(cellsOf(kind, { metadata: { name: 'x' } })).toHaveLength(tableColumns(kind).length);
    }
  });
});
