import { useEffect, useRef } from 'preact/hooks';
import type { MemberAction } from '../dashboard-types.js';
import { ACTIONS } from './actions.js';

export interface PendingAction {
  member: string;
  action: MemberAction;
  pid: number;
  leader: boolean;
}

/** The confirmation every button goes through: a modal <dialog> that names the member and the effect. */
export function ConfirmDialog(props: { pending: PendingAction | undefined; onConfirm: (p: PendingAction) => void; onCancel: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const { pending } = props;
  useEffect(() => {
    const dialog = ref.current;
    if (dialog === null) return;
    if (pending !== undefined && !dialog.open) dialog.showModal();
    if (pending === undefined && dialog.open) dialog.close();
  }, [pending]);
  const spec = pending === undefined ? undefined : ACTIONS[pending.action];
  const title = pending === undefined || spec === undefined ? '' : pending.action === 'heal' ? 'Heal every peer link?' : `${spec.label} ${pending.member}?`;
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-title" aria-describedby="confirm-text" onCancel={props.onCancel}>
      {pending !== undefined && spec !== undefined && (
        <form method="dialog" onSubmit={(e) => (e.preventDefault(), props.onConfirm(pending))}>
          <h2 id="confirm-title">{title}</h2>
          <p id="confirm-text">{spec.describe(pending.member, pending)}</p>
          <div class="dialog-buttons">
            <button type="button" class="btn" onClick={props.onCancel}>
              Cancel
            </button>
            <button type="submit" class={spec.danger ? 'btn btn-danger' : 'btn btn-primary'}>
              {pending.action === 'heal' ? 'Yes, heal' : `Yes, ${spec.label.toLowerCase()} ${pending.member}`}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}
