// Sequential specifications of the two linearizable workloads, one key each (P-compositionality:
// a history is linearizable iff the sub-history of every key is).

import type { ListOp, RegisterOp } from '../history.js';
import type { Model } from './wgl.js';

/**
 * A register holding a string, or null when the key does not exist. An op with an unknown outcome
 * has no result to match: a write sets the value, a CAS swaps iff the value matches.
 */
export const registerModel: Model<string | null, RegisterOp> = {
  init: null,
  step(state, op) {
    switch (op.f) {
      case 'read':
        return op.result === state ? state : undefined;
      case 'write':
        return op.value;
      case 'cas':
        if (op.outcome !== 'ok') return state === op.from ? op.to : state;
        if (op.succeeded === true) return state === op.from ? op.to : undefined;
        if (state === op.from) return undefined;
        return op.observed === undefined || op.observed === state ? state : undefined;
    }
  },
  stateKey: (state) => (state === null ? '∅' : `=${state}`),
};

/** A list of elements (a key's value is the elements joined by ','), which appends extend. */
export const listModel: Model<string, ListOp> = {
  init: '',
  step(state, op) {
    if (op.f === 'append') return state === '' ? op.element : `${state},${op.element}`;
    return (op.result ?? []).join(',') === state ? state : undefined;
  },
  stateKey: (state) => state,
};

/** Values an op reads (so the op that wrote them must stay in any sub-history). */
export function registerObserves(op: RegisterOp): string[] {
  const out: string[] = [];
  if (op.f === 'read' && typeof op.result === 'string') out.push(op.result);
  if (op.f === 'cas') {
    out.push(op.from);
    if (typeof op.observed === 'string') out.push(op.observed);
  }
  return out;
}

/** The value an op writes, if any. */
export function registerProduces(op: RegisterOp): string | undefined {
  if (op.f === 'write') return op.value;
  if (op.f === 'cas') return op.to;
  return undefined;
}

export function listObserves(op: ListOp): string[] {
  return op.f === 'read-list' ? [...(op.result ?? [])] : [];
}

export function listProduces(op: ListOp): string | undefined {
  return op.f === 'append' ? op.element : undefined;
}
