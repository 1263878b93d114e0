// The nemesis: a schedule of faults drawn from a seed, one fault at a time (inject, hold, heal,
// quiet), applied to a TortureCluster. Targets that depend on the moment (the leader) are found
// when the step runs; everything else is fixed by the seed.

import type { CutMode } from '../../src/launcher/link-proxy.js';
import { SeededRandom } from '../../src/util/prng.js';
import { type Slot, sleep, type TortureCluster } from './torture-cluster.js';

export const nemesisKinds = ['kill', 'kill-leader', 'pause', 'partition', 'member', 'transfer', 'delay', 'combo'] as const;
export type NemesisKind = (typeof nemesisKinds)[number];

export type PartitionShape = 'minority' | 'isolate-leader' | 'bridge';

export interface NemesisStep {
  readonly kind: NemesisKind;
  /** How long the fault lasts before it is healed. */
  readonly holdMs: number;
  /** Calm time after healing, before the next fault. */
  readonly quietMs: number;
  /** A random slot index, used where the step needs one. */
  readonly slot: number;
  /** pause: target the leader rather than `slot`. */
  readonly leader: boolean;
  readonly shape: PartitionShape;
  readonly mode: CutMode;
  /** A seeded permutation of the slots, for choosing partition sides. */
  readonly order: readonly number[];
  readonly delayMs: number;
}

export function parseNemeses(text: string): NemesisKind[] {
  if (text === 'all') return [...nemesisKinds];
  if (text === 'none' || text === '') return [];
  const out: NemesisKind[] = [];
  for (const name of text.split(',').map((s) => s.trim())) {
    if (!(nemesisKinds as readonly string[]).includes(name)) {
      throw new Error(`unknown nemesis "${name}" (choose from ${nemesisKinds.join(', ')}, or all / none)`);
    }
    out.push(name as NemesisKind);
  }
  return out;
}

/** A schedule long enough to fill `durationMs`, fixed by the seed. */
export function planSchedule(seed: number, kinds: readonly NemesisKind[], durationMs: number, members: number, electionTimeoutMs: number): NemesisStep[] {
  const random = new SeededRandom(seed ^ 0x5eed);
  const steps: NemesisStep[] = [];
  if (kinds.length === 0) return steps;
  let total = 0;
  // Each kind at least once when the run is long enough, then uniform choices.
  const queue = [...kinds];
  for (let i = queue.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [queue[i], queue[j]] = [queue[j] as NemesisKind, queue[i] as NemesisKind];
  }
  while (total < durationMs) {
    const kind = queue.shift() ?? random.pick(kinds);
    const holdMs =
      kind === 'pause'
        ? Math.round(electionTimeoutMs * (1.5 + random.next() * 2.5))
        : kind === 'partition' || kind === 'combo'
          ? 2000 + random.int(6000)
          : kind === 'kill' || kind === 'kill-leader'
            ? 500 + random.int(4000)
            : kind === 'delay'
              ? 2000 + random.int(3000)
              : 0;
    const order = Array.from({ length: members }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = random.int(i + 1);
      [order[i], order[j]] = [order[j] as number, order[i] as number];
    }
    const step: NemesisStep = {
      kind,
      holdMs,
      quietMs: 1000 + random.int(2500),
      slot: random.int(members),
      leader: random.chance(0.5),
      shape: random.pick(['minority', 'isolate-leader', 'bridge'] as const),
      mode: random.chance(0.6) ? 'drop' : 'reset',
      order,
      delayMs: 20 + random.int(130),
    };
    steps.push(step);
    total += holdMs + step.quietMs + (kind === 'member' ? 4000 : 0);
  }
  return steps;
}

export function describeStep(s: NemesisStep): string {
  switch (s.kind) {
    case 'partition':
      return `partition ${s.shape} (${s.mode}) for ${s.holdMs} ms`;
    case 'pause':
      return `pause ${s.leader ? 'the leader' : `slot ${s.slot + 1}`} for ${s.holdMs} ms`;
    case 'delay':
      return `delay peer links by ${s.delayMs} ms for ${s.holdMs} ms`;
    case 'kill':
      return `kill -9 slot ${s.slot + 1} for ${s.holdMs} ms`;
    case 'kill-leader':
      return `kill -9 the leader for ${s.holdMs} ms`;
    case 'member':
      return `remove slot ${s.slot + 1} and add it back empty`;
    case 'transfer':
      return 'move the leadership to a random follower';
    case 'combo':
      return `${s.leader ? 'kill -9' : 'pause'} slot ${s.slot + 1} and cut a minority away (${s.mode}) for ${s.holdMs} ms`;
  }
}

/** Pairs to cut so that the groups cannot talk across (bridge: only `bridge` talks to both sides). */
function cutBetween(a: readonly number[], b: readonly number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const x of a) for (const y of b) out.push([x, y]);
  return out;
}

async function leaderOr(cluster: TortureCluster, fallback: Slot): Promise<Slot> {
  return (await cluster.leader()) ?? fallback;
}

/** Runs one step: inject, hold, heal. Failures of the nemesis itself are logged, never thrown. */
export async function runStep(cluster: TortureCluster, step: NemesisStep, stopped: () => boolean): Promise<void> {
  const slots = cluster.slots;
  const target = slots[step.slot] as Slot;
  const hold = async (): Promise<void> => {
    const until = Date.now() + step.holdMs;
    while (Date.now() < until && !stopped()) await sleep(Math.min(100, until - Date.now()));
  };
  cluster.log(`nemesis: ${describeStep(step)}`);
  try {
    switch (step.kind) {
      case 'kill':
      case 'kill-leader': {
        const victim = step.kind === 'kill' ? target : await cluster.leader();
        if (victim === undefined) {
          cluster.log('nemesis: no leader to kill');
          break;
        }
        if (!victim.inCluster) break;
        await cluster.kill(victim);
        await hold();
        await cluster.start(victim);
        break;
      }
      case 'pause': {
        const victim = step.leader ? await leaderOr(cluster, target) : target;
        cluster.pause(victim);
        await hold();
        cluster.resume(victim);
        break;
      }
      case 'partition': {
        const n = slots.length;
        const order = step.order;
        let pairs: Array<[number, number]>;
        if (step.shape === 'isolate-leader') {
          const leader = (await cluster.leader())?.index ?? (order[0] as number);
          pairs = cutBetween([leader], order.filter((i) => i !== leader));
        } else if (step.shape === 'bridge') {
          // Two halves that only the bridge member connects.
          const bridge = order[0] as number;
          const rest = order.slice(1);
          const half = Math.floor(rest.length / 2);
          pairs = cutBetween(rest.slice(0, half), rest.slice(half));
          cluster.log(`nemesis: bridge ${slots[bridge]?.name}`);
        } else {
          const minority = order.slice(0, Math.floor((n - 1) / 2) || 1);
          pairs = cutBetween(minority, order.slice(minority.length));
        }
        cluster.partition(pairs, step.mode);
        await hold();
        cluster.healNetwork();
        break;
      }
      case 'combo': {
        // Two faults at once: a crashed or frozen member plus a partition that may or may not
        // leave the rest a quorum.
        if (!target.inCluster) break;
        if (step.leader) await cluster.kill(target);
        else cluster.pause(target);
        const minority = step.order.slice(0, Math.floor((slots.length - 1) / 2) || 1);
        cluster.partition(cutBetween(minority, step.order.slice(minority.length)), step.mode);
        await hold();
        cluster.healNetwork();
        if (step.leader) await cluster.start(target);
        else cluster.resume(target);
        break;
      }
      case 'delay': {
        cluster.setDelay(step.delayMs);
        await hold();
        cluster.healNetwork();
        break;
      }
      case 'member': {
        // Only with every member up: a removal on top of another fault can cost the quorum for long.
        if (cluster.reachable().length !== slots.length) {
          cluster.log('nemesis: member change skipped (not every member is up)');
          break;
        }
        const ok = await cluster.replace(target);
        if (ok) await cluster.waitHealthy([target], 20_000);
        break;
      }
      case 'transfer': {
        const leader = await cluster.leader();
        if (leader === undefined) {
          cluster.log('nemesis: no leader to transfer from');
          break;
        }
        await cluster.refreshIds();
        const followers = cluster.reachable().filter((s) => s !== leader && s.idHex !== undefined);
        const to = followers[step.slot % Math.max(1, followers.length)];
        if (to === undefined) break;
        try {
          await leader.admin.moveLeader(BigInt(`0x${to.idHex}`).toString(10), 5000);
          cluster.log(`move leader ${leader.name} → ${to.name}: done`);
        } catch (err) {
          cluster.log(`move leader ${leader.name} → ${to.name} failed: ${(err as Error).message}`);
        }
        break;
      }
    }
  } catch (err) {
    cluster.log(`nemesis ${step.kind} failed: ${(err as Error).stack ?? String(err)}`);
  }
}

/** Undoes every fault: network healed, paused members resumed, stopped ones started, removed ones re-added. */
export async function healAll(cluster: TortureCluster): Promise<void> {
  cluster.healNetwork();
  for (const s of cluster.slots) cluster.resume(s);
  for (const s of cluster.slots) if (s.inCluster && !s.running) await cluster.start(s);
  for (const s of cluster.slots) if (!s.inCluster) await cluster.readd(s);
}
