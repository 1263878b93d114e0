import type { KubeView, PodName } from '../dashboard-types.js';
import { TableHead } from './table-head.js';

const PHASE_ORDER = ['Running', 'Pending', 'Terminating', 'Succeeded', 'Failed', 'Unknown'];

/** Nodes with their conditions, and their pods by phase; pods not yet scheduled in a last row. */
export function NodesTable(props: { kube: KubeView }) {
  const { kube } = props;
  const unscheduled = Object.values(kube.unscheduled.pods).reduce((a, b) => a + b, 0);
  if (kube.nodes.length === 0 && unscheduled === 0) return <p class="empty">{kube.synced ? 'No nodes have registered.' : 'Waiting for the first list from the apiserver…'}</p>;
  return (
    <table class="table" aria-label="Nodes and pods">
      <TableHead columns={['Node', 'Ready', 'Conditions', 'Pods by phase', 'Pods']} />
      <tbody>
        {kube.nodes.map((n) => (
          <tr key={n.name} data-node={n.name} data-ready={n.ready}>
            <th scope="row" class="nowrap">
              {n.name}
            </th>
            <td>
              <span class={n.ready === 'True' ? 'pill pill-up' : n.ready === 'False' ? 'pill pill-down' : 'pill pill-paused'}>{n.ready === 'True' ? 'Ready' : n.ready === 'False' ? 'NotReady' : 'Unknown'}</span>
              {n.ready !== 'True' && n.readyReason !== undefined && <span class="muted small"> {n.readyReason}</span>}
            </td>
            <td>
              {n.problems.length === 0 && !n.unschedulable ? <span class="muted">–</span> : null}
              {n.problems.map((p) => (
                <span key={p} class="pill pill-warn">
                  {p}
                </span>
              ))}
              {n.unschedulable && <span class="pill pill-warn">SchedulingDisabled</span>}
            </td>
            <td>
              <PhaseCounts pods={n.pods} />
            </td>
            <td>
              <PodChips names={n.podNames} total={Object.values(n.pods).reduce((a, b) => a + b, 0)} />
            </td>
          </tr>
        ))}
        {unscheduled > 0 && (
          <tr data-node="">
            <th scope="row" class="muted">
              not scheduled
            </th>
            <td>–</td>
            <td>–</td>
            <td>
              <PhaseCounts pods={kube.unscheduled.pods} />
            </td>
            <td>
              <PodChips names={kube.unscheduled.podNames} total={unscheduled} />
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

function PhaseCounts(props: { pods: Record<string, number> }) {
  const phases = Object.keys(props.pods).sort((a, b) => rank(a) - rank(b));
  if (phases.length === 0) return <span class="muted">none</span>;
  return (
    <span class="phase-counts">
      {phases.map((p) => (
        <span key={p} class={`pill pill-phase-${p.toLowerCase()}`}>
          {props.pods[p]} {p}
        </span>
      ))}
    </span>
  );
}

function PodChips(props: { names: PodName[]; total: number }) {
  if (props.total === 0) return <span class="muted">–</span>;
  return (
    <span class="pod-chips">
      {props.names.map((p) => (
        <span key={`${p.namespace}/${p.name}`} class={`chip chip-${p.phase.toLowerCase()}`} title={`${p.namespace}/${p.name}: ${p.phase}`}>
          {p.name}
        </span>
      ))}
      {props.total > props.names.length && <span class="muted small">+{props.total - props.names.length} more</span>}
    </span>
  );
}

function rank(phase: string): number {
  const i = PHASE_ORDER.indexOf(phase);
  return i < 0 ? PHASE_ORDER.length : i;
}
