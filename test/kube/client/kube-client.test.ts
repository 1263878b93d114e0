// The REST client and the informer against real ketch-apiservers on a real 3-member ketch store:
// verbs, typed Status errors, optimistic concurrency, the three patch types, list paging,
// watches resumed from a resourceVersion, failover across --master URLs when an apiserver dies
// (or was never there), and the informer's relist after 410 Gone.

import { describe, expect, it } from 'vitest';
import { freePort } from '../../api/free-port.js';
import { sleep } from '../../integration/cluster.js';
import { useApiCluster } from '../apiserver/apiserver-harness.js';
import { ConnectionError, isAlreadyExists, isConflict, isGone, isInvalid, isNotFound, KubeApiError } from '../../../src/kube/client/api-error.js';
import { realClock } from '../../../src/kube/client/clock.js';
import { KubeClient } from '../../../src/kube/client/kube-client.js';
import type { KubeObject, WatchEvent } from '../../../src/kube/client/meta-types.js';
import { CONFIGMAPS, DEPLOYMENTS } from '../../../src/kube/client/resource-ref.js';
import { Informer } from '../../../src/kube/informer/informer.js';

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

function cm(name: string, data: Record<string, string> = {}, labels: Record<string, string> = {}): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', labels }, data };
}

async function eventually(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

describe('KubeClient and Informer against real apiservers (ketch store)', () => {
  const api = useApiCluster('ketch', { replicas: 2, flags: ['--default-watch-cache-size', '100'] });

  it('does CRUD with typed errors and optimistic concurrency', async () => {
    const client = new KubeClient({ masters: [api().url(0)] });
    const created = await client.create<ConfigMap>(CONFIGMAPS, 'default', cm('crud-a', { k: 'v' }));
    expect(created.metadata.uid).toMatch(/./);
    expect(created.metadata.resourceVersion).toMatch(/^\d+$/);
    const again = await client.create(CONFIGMAPS, 'default', cm('crud-a')).catch((e: unknown) => e);
    expect(isAlreadyExists(again)).toBe(true);
    expect((again as KubeApiError).code).toBe(409);
    const got = await client.get<ConfigMap>(CONFIGMAPS, 'default', 'crud-a');
    expect(got.data).toEqual({ k: 'v' });
    const updated = await client.update<ConfigMap>(CONFIGMAPS, { ...got, data: { k: 'v2' } });
    expect(updated.data).toEqual({ k: 'v2' });
    // A write based on the old version is refused.
    const stale = await client.update<ConfigMap>(CONFIGMAPS, { ...got, data: { k: 'v3' } }).catch((e: unknown) => e);
    expect(isConflict(stale)).toBe(true);
    expect(isAlreadyExists(stale)).toBe(false);
    await client.delete(CONFIGMAPS, 'default', 'crud-a');
    const gone = await client.get(CONFIGMAPS, 'default', 'crud-a').catch((e: unknown) => e);
    expect(isNotFound(gone)).toBe(true);
    expect((gone as KubeApiError).message).toBe('configmaps "crud-a" not found');
    const bad = await client.create(CONFIGMAPS, 'default', cm('Not_A_Name')).catch((e: unknown) => e);
    expect(isInvalid(bad)).toBe(true);
    client.close();
  });

  it('applies merge, strategic and JSON patches', async () => {
    const client = new KubeClient({ masters: [api().url(0)] });
    await client.create(DEPLOYMENTS, 'default', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'patchme', namespace: 'default' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'p' } },
        template: { metadata: { labels: { app: 'p' } }, spec: { containers: [{ name: 'a', image: 'nginx:1', ports: [{ containerPort: 80 }] }, { name: 'b', image: 'busybox' }] } },
      },
    });
    type D = { spec: { replicas: number; template: { spec: { containers: { name: string; image: string; ports?: { containerPort: number }[] }[] } } }; metadata: { annotations?: Record<string, string> } };
    const merged = await client.patch<D>(DEPLOYMENTS, 'default', 'patchme', 'merge', { spec: { replicas: 3 } });
    expect(merged.spec.replicas).toBe(3);
    const smp = await client.patch<D>(DEPLOYMENTS, 'default', 'patchme', 'strategic', { spec: { template: { spec: { containers: [{ name: 'a', image: 'nginx:2' }] } } } });
    expect(smp.spec.template.spec.containers.map((c) => `${c.name}=${c.image}`)).toEqual(['a=nginx:2', 'b=busybox']);
    expect(smp.spec.template.spec.containers[0]?.ports?.[0]?.containerPort).toBe(80);
    const json = await client.patch<D>(DEPLOYMENTS, 'default', 'patchme', 'json', [{ op: 'add', path: '/metadata/annotations', value: { x: 'y' } }]);
    expect(json.metadata.annotations).toEqual({ x: 'y' });
    const badTest = await client.patch(DEPLOYMENTS, 'default', 'patchme', 'json', [{ op: 'test', path: '/spec/replicas', value: 9 }]).catch((e: unknown) => e);
    expect(badTest).toBeInstanceOf(KubeApiError);
    await client.delete(DEPLOYMENTS, 'default', 'patchme');
    client.close();
  });

  it('lists with label selectors and pages with limit/continue', async () => {
    const client = new KubeClient({ masters: [api().url(1)] });
    for (let i = 0; i < 7; i++) await client.create(CONFIGMAPS, 'default', cm(`page-${i}`, {}, { group: 'paging', parity: i % 2 === 0 ? 'even' : 'odd' }));
    const even = await client.list<ConfigMap>(CONFIGMAPS, 'default', { labelSelector: 'group=paging,parity=even' });
    expect(even.items.map((x) => x.metadata.name).sort()).toEqual(['page-0', 'page-2', 'page-4', 'page-6']);
    const first = await client.list<ConfigMap>(CONFIGMAPS, 'default', { labelSelector: 'group=paging', limit: 3 });
    expect(first.items.length).toBe(3);
    expect(first.metadata.continue).toMatch(/./);
    const all = await client.listAll<ConfigMap>(CONFIGMAPS, 'default', { labelSelector: 'group=paging' }, 2);
    expect(all.items.map((x) => x.metadata.name).sort()).toEqual(['page-0', 'page-1', 'page-2', 'page-3', 'page-4', 'page-5', 'page-6']);
    expect(all.metadata.resourceVersion).toMatch(/^\d+$/);
    const byField = await client.list<ConfigMap>(CONFIGMAPS, 'default', { fieldSelector: 'metadata.name=page-3' });
    expect(byField.items.map((x) => x.metadata.name)).toEqual(['page-3']);
    client.close();
  });

  it('watches from a resourceVersion and resumes without gaps', async () => {
    const client = new KubeClient({ masters: [api().url(0)] });
    const start = await client.list<ConfigMap>(CONFIGMAPS, 'default', { labelSelector: 'group=watch' });
    const rv = start.metadata.resourceVersion;
    const a = await client.create<ConfigMap>(CONFIGMAPS, 'default', cm('watch-a', {}, { group: 'watch' }));
    await client.update<ConfigMap>(CONFIGMAPS, { ...a, data: { x: '1' } });
    await client.delete(CONFIGMAPS, 'default', 'watch-a');
    const seen: WatchEvent<ConfigMap>[] = [];
    const ctl = new AbortController();
    for await (const ev of client.watch<ConfigMap>(CONFIGMAPS, 'default', { resourceVersion: rv, labelSelector: 'group=watch', signal: ctl.signal, timeoutSeconds: 30 })) {
      seen.push(ev);
      if (seen.length === 3) ctl.abort();
    }
    expect(seen.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED watch-a', 'MODIFIED watch-a', 'DELETED watch-a']);
    expect(Number(seen[2]?.object.metadata.resourceVersion)).toBeGreaterThan(Number(seen[1]?.object.metadata.resourceVersion));
    client.close();
  });

  it('fails over from an apiserver that is not there, and from one that dies', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const client = new KubeClient({ masters: [dead, api().url(0), api().url(1)] });
    await client.create(CONFIGMAPS, 'default', cm('failover-a'));
    expect(client.currentMaster).toBe(api().url(0));
    const lonely = new KubeClient({ masters: [dead] });
    const err = await lonely.get(CONFIGMAPS, 'default', 'failover-a').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    lonely.close();

    // An informer on the same client keeps its cache across the loss of its apiserver.
    const informer = new Informer<ConfigMap>({ client, resource: CONFIGMAPS, namespace: 'default', clock: realClock });
    const ctl = new AbortController();
    const running = informer.run(ctl.signal);
    await informer.waitForSync();
    expect(informer.get('default', 'failover-a')).toBeDefined();
    await api().apiservers[0]?.kill();
    const other = new KubeClient({ masters: [api().url(1)] });
    await other.create(CONFIGMAPS, 'default', cm('failover-b'));
    await eventually('the informer to see failover-b through the surviving apiserver', 30_000, () => informer.get('default', 'failover-b') !== undefined);
    expect(client.currentMaster).toBe(api().url(1));
    await client.delete(CONFIGMAPS, 'default', 'failover-a');
    await eventually('the informer to see the delete', 30_000, () => informer.get('default', 'failover-a') === undefined);
    ctl.abort();
    await running;
    other.close();
    client.close();
    await api().apiservers[0]?.start();
    await api().apiservers[0]?.waitReady();
  });

  it('a watch from a compacted resourceVersion gets 410 Expired', async () => {
    const client = new KubeClient({ masters: [api().url(1)] });
    const old = await client.list<ConfigMap>(CONFIGMAPS, 'default');
    const oldRv = old.metadata.resourceVersion ?? '';
    // More events than the watch cache keeps (100), then compact the store past the old version.
    for (let i = 0; i < 120; i++) await client.create(CONFIGMAPS, 'default', cm(`churn-${i}`, {}, { group: 'churn' }));
    const now = await client.list<ConfigMap>(CONFIGMAPS, 'default', { limit: 1 });
    const compact = await api().store.etcdctl(['compaction', now.metadata.resourceVersion ?? '']);
    expect(compact.code).toBe(0);
    let error: unknown;
    try {
      for await (const _ of client.watch(CONFIGMAPS, 'default', { resourceVersion: oldRv, timeoutSeconds: 5 })) {
        // The first event may be the ERROR; nothing else is expected.
      }
    } catch (e) {
      error = e;
    }
    expect(isGone(error)).toBe(true);

    client.close();
  });

  it('an informer whose apiserver was away past a compaction relists after 410 and delivers what it missed', async () => {
    const writer = new KubeClient({ masters: [api().url(1)] });
    const client = new KubeClient({ masters: [api().url(0)] });
    await writer.create(CONFIGMAPS, 'default', cm('relist-keep', {}, { group: 'relist' }));
    await writer.create(CONFIGMAPS, 'default', cm('relist-drop', {}, { group: 'relist' }));
    const informer = new Informer<ConfigMap>({ client, resource: CONFIGMAPS, namespace: 'default', labelSelector: 'group=relist', clock: realClock });
    const deleted: string[] = [];
    informer.addHandlers({ onDelete: (o) => deleted.push(o.metadata.name ?? '') });
    const ctl = new AbortController();
    const running = informer.run(ctl.signal);
    await informer.waitForSync();
    expect(informer.keys().sort()).toEqual(['default/relist-drop', 'default/relist-keep']);
    // Its only apiserver goes away; meanwhile the store moves on and is compacted.
    await api().apiservers[0]?.kill();
    await writer.delete(CONFIGMAPS, 'default', 'relist-drop');
    await writer.create(CONFIGMAPS, 'default', cm('relist-new', {}, { group: 'relist' }));
    for (let i = 0; i < 120; i++) await writer.create(CONFIGMAPS, 'default', cm(`relist-churn-${i}`));
    const now = await writer.list<ConfigMap>(CONFIGMAPS, 'default', { limit: 1 });
    expect((await api().store.etcdctl(['compaction', now.metadata.resourceVersion ?? ''])).code).toBe(0);
    await api().apiservers[0]?.start();
    await api().apiservers[0]?.waitReady();
    await eventually('the informer to relist', 60_000, () => informer.stats.relistsAfterGone > 0 && informer.get('default', 'relist-new') !== undefined);
    expect(informer.keys().sort()).toEqual(['default/relist-keep', 'default/relist-new']);
    expect(deleted).toEqual(['relist-drop']);
    ctl.abort();
    await running;
    writer.close();
    client.close();
  });
});
