import type { StoreView } from '../dashboard-types.js';
import { clusterLeader } from '../store-leader.js';
import { ago, formatBytes, formatNumber } from './format.js';
import { type Ask, MemberButtons } from './member-buttons.js';

/** One card per store member: its role, raft numbers, health and drill buttons. */
export function StoreCards(props: { stores: StoreView[]; nowMs: number; busy: string | undefined; ask: Ask }) {
  const leader = clusterLeader(props.stores);
  if (props.stores.length === 0) return <p class="empty">This cluster has no store members.</p>;
  return (
    <div class="store-grid">
      {props.stores.map((s) => (
        <StoreCard key={s.name} store={s} leads={leader?.name === s.name} nowMs={props.nowMs} busy={props.busy === s.name} ask={props.ask} />
      ))}
    </div>
  );
}

function StoreCard(props: { store: StoreView; leads: boolean; nowMs: number; busy: boolean; ask: Ask }) {
  const { store: s, leads } = props;
  const role = s.state !== 'up' ? undefined : leads ? 'Leader' : s.sees !== undefined ? 'Follower' : 'No leader';
  const stale = s.state !== 'up' && s.probedAt !== undefined;
  const classes = ['card', 'store-card', `state-${s.state}`, leads ? 'is-leader' : '', s.partitioned ? 'is-partitioned' : ''].filter(Boolean).join(' ');
  return (
    <article class={classes} aria-labelledby={`store-${s.name}`} data-member={s.name} data-state={s.state} data-leader={leads ? 'true' : 'false'}>
      <header class="card-head">
        <h3 id={`store-${s.name}`}>{s.name}</h3>
        {role === 'Leader' ? (
          <span class="badge badge-leader">★ Leader</span>
        ) : role !== undefined ? (
          <span class={role === 'Follower' ? 'badge badge-follower' : 'badge badge-warn'}>{role}</span>
        ) : null}
        <span class={`pill pill-${s.state}`}>{s.state}</span>
      </header>
      {s.partitioned && <p class="note note-cut">Peer links cut</p>}
      <dl class="facts">
        <Fact label="Term" value={formatNumber(s.term)} />
        <Fact label="Commit index" value={formatNumber(s.commitIndex)} />
        <Fact label="Applied index" value={formatNumber(s.appliedIndex)} />
        <Fact label="DB size" value={formatBytes(s.dbSizeBytes)} />
        <Fact label="Health" value={health(s)} tone={s.healthy === true ? 'good' : s.healthy === false ? 'bad' : undefined} />
        <Fact label="Sees leader" value={s.state === 'up' ? (s.sees ?? 'none') : '–'} />
        <Fact label="PID" value={String(s.pid)} />
        <Fact label="Client URL" value={s.url} mono />
      </dl>
      {stale && <p class="note">Numbers from {ago(s.probedAt as number, props.nowMs)}, before it was {s.state === 'paused' ? 'paused' : 'stopped'}.</p>}
      {s.error !== undefined && s.state === 'up' && <p class="note note-error">{s.error}</p>}
      <MemberButtons name={s.name} pid={s.pid} state={s.state} leader={leads} store={{ partitioned: s.partitioned }} busy={props.busy} ask={props.ask} />
    </article>
  );
}

function health(s: StoreView): string {
  if (s.state === 'down') return 'down';
  if (s.state === 'paused') return 'paused';
  if (s.healthy === undefined) return '…';
  return s.healthy ? 'healthy' : 'unhealthy';
}

function Fact(props: { label: string; value: string; tone?: 'good' | 'bad' | undefined; mono?: boolean }) {
  return (
    <div class="fact">
      <dt>{props.label}</dt>
      <dd class={[props.tone === undefined ? '' : `tone-${props.tone}`, props.mono === true ? 'mono' : ''].filter(Boolean).join(' ')}>{props.value}</dd>
    </div>
  );
}
