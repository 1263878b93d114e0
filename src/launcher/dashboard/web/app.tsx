import { useCallback, useEffect, useState } from 'preact/hooks';
import type { DashboardView, HelloMessage, MemberAction, TimelineEntry, ViewPatch } from '../dashboard-types.js';
import { clusterLeader } from '../store-leader.js';
import { ACTIONS, postAction } from './actions.js';
import { ConfirmDialog, type PendingAction } from './confirm-dialog.js';
import { ComponentTable, LeaseTable } from './control-plane.js';
import { NodesTable } from './nodes-table.js';
import { StoreCards } from './store-cards.js';
import { TimelineList } from './timeline-list.js';

const TIMELINE_MAX = 500;

interface Feed {
  view: DashboardView;
  timeline: TimelineEntry[];
  probeIntervalMs: number;
}

/** The server's event stream: a hello with everything, then patches and timeline entries. */
function useFeed(): { feed: Feed | undefined; connected: boolean } {
  const [feed, setFeed] = useState<Feed | undefined>(undefined);
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    const events = new EventSource('/events');
    events.addEventListener('hello', (e) => {
      setConnected(true);
      setFeed(JSON.parse((e as MessageEvent<string>).data) as HelloMessage);
    });
    events.addEventListener('patch', (e) => {
      const patch = JSON.parse((e as MessageEvent<string>).data) as ViewPatch;
      setFeed((f) => (f === undefined ? f : { ...f, view: { ...f.view, ...patch } }));
    });
    events.addEventListener('timeline', (e) => {
      const entries = JSON.parse((e as MessageEvent<string>).data) as TimelineEntry[];
      setFeed((f) => (f === undefined ? f : { ...f, timeline: [...f.timeline, ...entries].slice(-TIMELINE_MAX) }));
    });
    // EventSource reconnects by itself; the next hello replaces everything.
    events.onerror = () => setConnected(false);
    return () => events.close();
  }, []);
  return { feed, connected };
}

/** A clock for "3 s ago" labels: re-renders the page, asks the server nothing. */
function useNow(everyMs: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

export function App() {
  const { feed, connected } = useFeed();
  const now = useNow(1000);
  const [pending, setPending] = useState<PendingAction | undefined>(undefined);
  const [busy, setBusy] = useState<string | undefined>(undefined);
  const [result, setResult] = useState<{ ok: boolean; message: string } | undefined>(undefined);

  // The outcome of the last action stays on screen for a while (longer when it failed).
  useEffect(() => {
    if (result === undefined || busy !== undefined) return;
    const timer = setTimeout(() => setResult(undefined), result.ok ? 6000 : 15000);
    return () => clearTimeout(timer);
  }, [result, busy]);

  const ask = useCallback((member: string, action: MemberAction, details: { pid: number; leader: boolean }) => setPending({ member, action, ...details }), []);
  const confirm = useCallback(async (p: PendingAction) => {
    setPending(undefined);
    setBusy(p.member);
    setResult({ ok: true, message: `${ACTIONS[p.action].label} ${p.member}…` });
    setResult(await postAction(p.member, p.action));
    setBusy(undefined);
  }, []);

  if (feed === undefined) {
    return <p class="loading">{connected ? 'Loading…' : 'Connecting to the dashboard server…'}</p>;
  }
  const { view } = feed;
  const leader = clusterLeader(view.stores);
  return (
    <>
      <header class="topbar">
        <div class="brand">
          <span class="logo" aria-hidden="true">
            ◆
          </span>
          <h1>
            Ketch <span class="cluster-name">{view.cluster.name}</span>
          </h1>
        </div>
        <div class="topbar-info">
          <span class={connected ? 'live live-on' : 'live live-off'}>
            {connected ? 'live' : 'reconnecting…'}
          </span>
          <span class="muted small">
            members probed every {feed.probeIntervalMs / 1000} s · Kubernetes objects by watch · {view.cluster.stateDir}
          </span>
        </div>
      </header>
      <main>
        {view.cut.length > 0 && (
          <div class="banner banner-cut" role="alert">
            <span>
              Peer links cut: <strong>{view.cut.map(([a, b]) => `${a} ⇹ ${b}`).join(', ')}</strong>
            </span>
            <button type="button" class="btn btn-small" aria-label="Heal all peer links" onClick={() => ask(view.cut[0]?.[0] ?? '', 'heal', { pid: 0, leader: false })}>
              Heal all
            </button>
          </div>
        )}

        <section aria-labelledby="stores-title">
          <div class="section-head">
            <h2 id="stores-title">Store members</h2>
            <span class="summary" data-testid="leader-summary">
              {leader === undefined ? <span class="tone-bad">no leader</span> : <>leader <strong>{leader.name}</strong> · term {leader.term}</>}
            </span>
          </div>
          <StoreCards stores={view.stores} nowMs={now} busy={busy} ask={ask} />
        </section>

        <div class="columns">
          <section aria-labelledby="timeline-title" class="panel">
            <div class="section-head">
              <h2 id="timeline-title">Timeline</h2>
              <span class="muted small">leader changes, elections, member and Lease events</span>
            </div>
            <TimelineList entries={feed.timeline} />
          </section>
          <section aria-labelledby="nodes-title" class="panel">
            <div class="section-head">
              <h2 id="nodes-title">Nodes and pods</h2>
              {view.kube.error !== undefined && <span class="tone-bad small">{view.kube.error}</span>}
            </div>
            {view.kube.available ? <NodesTable kube={view.kube} /> : <p class="empty">No apiserver in this cluster, so no nodes or pods.</p>}
            {view.kube.available && (
              <>
                <h3 class="subhead">Leases</h3>
                <LeaseTable leases={view.kube.leases} nowMs={now} />
              </>
            )}
          </section>
        </div>

        <section aria-labelledby="cp-title" class="panel">
          <div class="section-head">
            <h2 id="cp-title">Control plane</h2>
            <span class="muted small">apiserver replicas, the load balancer, schedulers, controller managers, kubelets</span>
          </div>
          <ComponentTable components={view.components} busy={busy} ask={ask} />
        </section>
      </main>
      <div class={result === undefined ? 'toast toast-hidden' : result.ok ? 'toast' : 'toast toast-error'} role="status" aria-live="polite">
        {result?.message}
      </div>
      <ConfirmDialog pending={pending} onConfirm={(p) => void confirm(p)} onCancel={() => setPending(undefined)} />
    </>
  );
}
