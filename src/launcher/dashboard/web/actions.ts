import type { ActionResult, MemberAction } from '../dashboard-types.js';

/** What each button does, in the words of its confirmation dialog. */
export interface ActionSpec {
  label: string;
  /** Styled as a destructive action. */
  danger: boolean;
  describe(member: string, details: { pid: number; leader: boolean }): string;
}

const LEADER_NOTE = ' It leads now, so the others elect a new leader.';

export const ACTIONS: Record<MemberAction, ActionSpec> = {
  kill: { label: 'Kill', danger: true, describe: (m, d) => `Send SIGKILL to ${m} (pid ${d.pid}): it stops at once, without handing anything over.${d.leader ? LEADER_NOTE : ''}` },
  stop: { label: 'Stop', danger: true, describe: (m, d) => `Send SIGTERM to ${m} (pid ${d.pid}): it shuts down gracefully.${d.leader ? LEADER_NOTE : ''}` },
  pause: { label: 'Pause', danger: true, describe: (m, d) => `Send SIGSTOP to ${m} (pid ${d.pid}): it freezes with its connections open until resumed.${d.leader ? LEADER_NOTE : ''}` },
  resume: { label: 'Resume', danger: false, describe: (m, d) => `Send SIGCONT to ${m} (pid ${d.pid}): it carries on where it froze.` },
  restart: { label: 'Restart', danger: true, describe: (m, d) => `Stop ${m} (SIGTERM, SIGKILL after 15 s) and start it again with its data.${d.leader ? LEADER_NOTE : ''}` },
  start: { label: 'Start', danger: false, describe: (m) => `Start ${m} again (a store member with its data dir).` },
  partition: {
    label: 'Partition',
    danger: true,
    describe: (m, d) => `Cut the peer links between ${m} and every other store member (this replaces any earlier cut). Clients can still reach it.${d.leader ? LEADER_NOTE : ''}`,
  },
  heal: { label: 'Heal', danger: false, describe: () => 'Open every cut peer link again.' },
};

export async function postAction(member: string, action: MemberAction): Promise<ActionResult> {
  try {
    const res = await fetch(`/api/members/${encodeURIComponent(member)}/${action}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    return (await res.json()) as ActionResult;
  } catch (err) {
    return { ok: false, message: `the dashboard server did not answer: ${(err as Error).message}` };
  }
}
