// Defaults compared with what a real cluster shows for a minimal object (`kubectl get -o yaml`
// after `kubectl run` / `create deployment` / `expose`; pkg/apis/core/v1/defaults.go,
// pkg/apis/apps/v1/defaults.go).
import { describe, expect, it } from 'vitest';

import { applyDefaults, defaultPullPolicy, imageTag, podQosClass } from '../../../src/kube/machinery/defaults.js';
import type { JsonObject } from '../../../src/kube/machinery/json.js';

describe('defaults', () => {
  it('a minimal pod gets kube defaults, admission additions and Pending status', () => {
    const input: JsonObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'nginx', ports: [{ containerPort: 80 }] }] } };
    const pod = applyDefaults('Pod', input);
    expect(pod.spec).toEqual({
      containers: [
        {
          name: 'c',
          image: 'nginx',
          imagePullPolicy: 'Always',
          ports: [{ containerPort: 80, protocol: 'TCP' }],
          resources: {},
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
        },
      ],
      dnsPolicy: 'ClusterFirst',
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
      priority: 0,
      restartPolicy: 'Always',
      schedulerName: 'default-scheduler',
      securityContext: {},
      serviceAccount: 'default',
      serviceAccountName: 'default',
      terminationGracePeriodSeconds: 30,
      tolerations: [
        { effect: 'NoExecute', key: 'node.kubernetes.io/not-ready', operator: 'Exists', tolerationSeconds: 300 },
        { effect: 'NoExecute', key: 'node.kubernetes.io/unreachable', operator: 'Exists', tolerationSeconds: 300 },
      ],
    });
    expect(pod.status).toEqual({ phase: 'Pending', qosClass: 'BestEffort' });
    expect(input.status).toBeUndefined(); // input untouched
  });

  it('keeps values that are set and does not duplicate tolerations', () => {
    const pod = applyDefaults('Pod', {
      metadata: { name: 'p' },
      spec: {
        restartPolicy: 'Never', terminationGracePeriodSeconds: 0, schedulerName: 'mine', serviceAccountName: 'sa',
        tolerations: [{ operator: 'Exists' }],
        containers: [{ name: 'c', image: 'nginx:1.21', imagePullPolicy: 'Never', resources: { limits: { cpu: '1', memory: '1Gi' } } }],
      },
    });
    const spec = pod.spec as JsonObject;
    expect([spec.restartPolicy, spec.terminationGracePeriodSeconds, spec.schedulerName, spec.serviceAccount]).toEqual(['Never', 0, 'mine', 'sa']);
    expect(spec.tolerations).toEqual([{ operator: 'Exists' }]);
    const c = (spec.containers as JsonObject[])[0] as JsonObject;
    expect(c.imagePullPolicy).toBe('Never');
    expect(c.resources).toEqual({ limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '1', memory: '1Gi' } });
    expect(pod.status).toEqual({ phase: 'Pending', qosClass: 'Guaranteed' });
  });

  it('image pull policy follows the tag like ParseImageName', () => {
    expect(imageTag('nginx')).toBe('latest');
    expect(imageTag('nginx:1.21')).toBe('1.21');
    expect(imageTag('localhost:5000/nginx')).toBe('latest');
    expect(imageTag('localhost:5000/nginx:v2')).toBe('v2');
    expect(imageTag('nginx@sha256:abc')).toBe('');
    expect(defaultPullPolicy('nginx:latest')).toBe('Always');
    expect(defaultPullPolicy('nginx')).toBe('Always');
    expect(defaultPullPolicy('nginx:1.21')).toBe('IfNotPresent');
    expect(defaultPullPolicy('nginx@sha256:abc')).toBe('IfNotPresent');
  });

  it('QoS classes', () => {
    expect(podQosClass({ spec: { containers: [{ name: 'a', resources: { requests: { cpu: '1' } } }] } })).toBe('Burstable');
    expect(podQosClass({ spec: { containers: [{ name: 'a', resources: { limits: { cpu: '1', memory: '1' }, requests: { cpu: '500m', memory: '1' } } }] } })).toBe('Burstable');
    expect(podQosClass({ spec: { containers: [{ name: 'a' }] } })).toBe('BestEffort');
  });

  it('a deployment from `kubectl create deployment web --image=nginx`', () => {
    const d = applyDefaults('Deployment', {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', labels: { app: 'web' } },
      spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image: 'nginx' }] } } },
    });
    const spec = d.spec as JsonObject;
    expect(spec.replicas).toBe(1);
    expect(spec.revisionHistoryLimit).toBe(10);
    expect(spec.progressDeadlineSeconds).toBe(600);
    expect(spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } });
    const tspec = (spec.template as JsonObject).spec as JsonObject;
    expect(tspec).toMatchObject({ dnsPolicy: 'ClusterFirst', restartPolicy: 'Always', schedulerName: 'default-scheduler', securityContext: {}, terminationGracePeriodSeconds: 30 });
    // Admission-plugin fields are for pods, not templates.
    expect(tspec.serviceAccountName).toBeUndefined();
    expect(tspec.tolerations).toBeUndefined();
    expect((tspec.containers as JsonObject[])[0]?.imagePullPolicy).toBe('Always');
    expect(d.status).toBeUndefined();
    // Recreate gets no rollingUpdate.
    const r = applyDefaults('Deployment', { spec: { strategy: { type: 'Recreate' }, replicas: 0 } });
    expect((r.spec as JsonObject).strategy).toEqual({ type: 'Recreate' });
    expect((r.spec as JsonObject).replicas).toBe(0);
    expect((applyDefaults('ReplicaSet', { spec: {} }).spec as JsonObject).replicas).toBe(1);
  });

  it('a service from `kubectl expose`', () => {
    const s = applyDefaults('Service', { spec: { selector: { app: 'web' }, ports: [{ port: 80 }, { port: 443, targetPort: 8443, protocol: 'TCP' }] } });
    expect(s.spec).toEqual({
      selector: { app: 'web' },
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }, { port: 443, targetPort: 8443, protocol: 'TCP' }],
      type: 'ClusterIP', sessionAffinity: 'None', internalTrafficPolicy: 'Cluster',
    });
    const np = applyDefaults('Service', { spec: { type: 'NodePort', sessionAffinity: 'ClientIP', ports: [{ port: 80, targetPort: 'http' }] } });
    expect(np.spec).toMatchObject({ externalTrafficPolicy: 'Cluster', sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } } });
    expect(((np.spec as JsonObject).ports as JsonObject[])[0]?.targetPort).toBe('http');
  });

  it('namespaces, secrets, endpoints, nodes', () => {
    expect(applyDefaults('Namespace', { metadata: { name: 'dev' } })).toEqual({
      metadata: { name: 'dev', labels: { 'kubernetes.io/metadata.name': 'dev' } },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    });
    expect(applyDefaults('Secret', { metadata: { name: 's' } }).type).toBe('Opaque');
    expect(applyDefaults('Secret', { type: 'kubernetes.io/tls' }).type).toBe('kubernetes.io/tls');
    expect(applyDefaults('Endpoints', { subsets: [{ ports: [{ port: 80 }] }] }).subsets).toEqual([{ ports: [{ port: 80, protocol: 'TCP' }] }]);
    expect(applyDefaults('Node', { status: { capacity: { cpu: '2' } } }).status).toEqual({ capacity: { cpu: '2' }, allocatable: { cpu: '2' } });
    expect(applyDefaults('ConfigMap', { data: { a: '1' } })).toEqual({ data: { a: '1' } });
  });
});
