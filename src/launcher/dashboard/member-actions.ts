import { isAlive, type LocalCluster } from '../local-cluster.js';
import type { MemberAction } from './dashboard-types.js';

/**
 * The failover drills the dashboard's buttons run: the launcher calls `ketch-cluster kill`,
 * `stop`, `start`, `pause`, `resume`, `partition` and `heal` make, plus restart (stop, then
 * start). Each returns a one-line account of what it did, or throws ActionError.
 */

export class ActionError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

/** How long a graceful stop may take before restart falls back to SIGKILL (as `down` does). */
const STOP_GRACE_MS = 15_000;

/** The actions that are one signal, as `ketch-cluster kill|stop|pause|resume` send them. */
const SIGNALS = {
  kill: { signal: 'SIGKILL', done: 'killed' },
  stop: { signal: 'SIGTERM', done: 'asked to stop' },
  pause: { signal: 'SIGSTOP', done: 'paused' },
  resume: { signal: 'SIGCONT', done: 'resumed' },
} as const satisfies Record<string, { signal: NodeJS.Signals; done: string }>;

export async function runMemberAction(cluster: LocalCluster, name: string, action: MemberAction): Promise<string> {
  const member = cluster.readState().members.find((m) => m.name === name);
  if (member === undefined) throw new ActionError(404, `no member named ${name}`);
  const running = isAlive(member.pid);
  switch (action) {
    case 'kill':
    case 'stop':
    case 'pause':
    case 'resume': {
      if (!running) throw new ActionError(409, `${name} is not running`);
      const { signal, done } = SIGNALS[action];
      // A paused member cannot act on SIGTERM until it runs again.
      if (action === 'stop') cluster.signal(name, 'SIGCONT');
      cluster.signal(name, signal);
      return `${name} ${done} (${signal} to pid ${member.pid})`;
    }
    case 'start':
      if (running) throw new ActionError(409, `${name} is already running (pid ${member.pid})`);
      cluster.start(name);
      return `${name} started (pid ${cluster.member(name).pid})`;
    case 'restart': {
      if (running) await stopAndWait(cluster, name, member.pid);
      cluster.start(name);
      return `${name} restarted (pid ${member.pid} → ${cluster.member(name).pid})`;
    }
    case 'partition': {
      if (member.kind !== 'store') throw new ActionError(400, `${name} is a ${member.kind}: only store members have peer links to cut`);
      try {
        const cut = await cluster.partition([name]);
        return `peer links cut: ${cut.map(([a, b]) => `${a}-${b}`).join(' ')}`;
      } catch (err) {
        throw new ActionError(409, (err as Error).message);
      }
    }
    case 'heal':
      try {
        await cluster.heal();
      } catch (err) {
        throw new ActionError(409, (err as Error).message);
      }
      return 'healed: all peer links are open';
  }
}

/** SIGTERM (after SIGCONT, so a paused member can exit), SIGKILL if it is still there after the grace time. */
async function stopAndWait(cluster: LocalCluster, name: string, pid: number): Promise<void> {
  cluster.signal(name, 'SIGCONT');
  cluster.signal(name, 'SIGTERM');
  const deadline = Date.now() + STOP_GRACE_MS;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  while (isAlive(pid)) await new Promise((r) => setTimeout(r, 20));
}
