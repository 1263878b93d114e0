import type { MemberAction, ProcessState } from '../dashboard-types.js';
import { ACTIONS } from './actions.js';

export type Ask = (member: string, action: MemberAction, details: { pid: number; leader: boolean }) => void;

/**
 * The drill buttons of one member, as its state allows: a running member can be killed, paused,
 * restarted (and a store partitioned); a paused one resumed; a stopped one started.
 */
export function MemberButtons(props: { name: string; pid: number; state: ProcessState; leader: boolean; store?: { partitioned: boolean }; busy: boolean; ask: Ask }) {
  const { name, state, store } = props;
  const actions: MemberAction[] =
    state === 'down' ? ['start']
    : state === 'paused' ? ['resume', 'kill', 'restart']
    : ['kill', 'pause', 'restart'];
  if (store !== undefined && state !== 'down') actions.push(store.partitioned ? 'heal' : 'partition');
  return (
    <div class="actions" role="group" aria-label={`Actions for ${name}`}>
      {actions.map((a) => (
        <button
          key={a}
          type="button"
          class={ACTIONS[a].danger ? 'btn btn-small btn-danger-outline' : 'btn btn-small'}
          aria-label={`${ACTIONS[a].label} ${name}`}
          disabled={props.busy}
          onClick={() => props.ask(name, a, { pid: props.pid, leader: props.leader })}
        >
          {ACTIONS[a].label}
        </button>
      ))}
    </div>
  );
}
