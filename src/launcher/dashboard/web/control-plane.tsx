import type { ComponentView, LeaseView } from '../dashboard-types.js';
import { ago } from './format.js';
import { TableHead } from './table-head.js';
import { type Ask, MemberButtons } from './member-buttons.js';

const KIND_NAMES: Record<ComponentView['kind'], string> = {
  apiserver: 'apiserver',
  lb: 'load balancer',
  scheduler: 'scheduler',
  'controller-manager': 'controller manager',
  kubelet: 'kubelet',
};

/** Apiserver replicas, the lb, schedulers, controller managers and kubelets: state, role, drills. */
export function ComponentTable(props: { components: ComponentView[]; busy: string | undefined; ask: Ask }) {
  if (props.components.length === 0) return <p class="empty">Only store members in this cluster.</p>;
  return (
    <table class="table" aria-label="Control plane processes">
      <TableHead columns={['Name', 'Kind', 'State', 'Role', 'URL', { hidden: 'Actions' }]} />
      <tbody>
        {props.components.map((c) => (
          <tr key={c.name} data-member={c.name} data-state={c.state}>
            <th scope="row" class="nowrap">
              {c.name}
            </th>
            <td class="nowrap">{KIND_NAMES[c.kind]}</td>
            <td>
              <span class={`pill pill-${c.state}`}>{c.state}</span>
            </td>
            <td>{role(c)}</td>
            <td class="mono">{c.url === '' ? '–' : c.url}</td>
            <td>
              <MemberButtons name={c.name} pid={c.pid} state={c.state} leader={c.leader === true} busy={props.busy === c.name} ask={props.ask} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function role(c: ComponentView) {
  if (c.ready !== undefined) return <span class={c.ready ? 'tone-good' : 'tone-bad'}>{c.ready ? 'ready' : 'not ready'}</span>;
  if (c.lease !== undefined) return c.leader === true ? <span class="badge badge-leader">★ holds {c.lease.split('/')[1]}</span> : <span class="muted">standby</span>;
  return <span class="muted">–</span>;
}

/** Who holds each kube-system Lease, from the watch. */
export function LeaseTable(props: { leases: LeaseView[]; nowMs: number }) {
  if (props.leases.length === 0) return <p class="empty">No Leases in kube-system yet.</p>;
  return (
    <table class="table" aria-label="Leases">
      <TableHead columns={['Lease', 'Holder', 'Renewed', 'Transitions']} />
      <tbody>
        {props.leases.map((l) => (
          <tr key={l.lease} data-lease={l.lease}>
            <th scope="row" class="mono">
              {l.lease}
            </th>
            <td>
              {l.current ? <strong>{l.holder ?? l.holderIdentity}</strong> : <span class="tone-bad">nobody</span>}
              {l.current && l.holder !== undefined && l.holderIdentity !== undefined && <span class="muted small"> ({l.holderIdentity})</span>}
              {!l.current && l.holderIdentity !== undefined && <span class="muted small"> (last: {l.holderIdentity})</span>}
            </td>
            <td>{l.renewTime === undefined ? '–' : ago(Date.parse(l.renewTime), props.nowMs)}</td>
            <td>{l.transitions ?? 0}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
