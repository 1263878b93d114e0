// coordination.k8s.io/v1 Lease: leader election locks and node heartbeats.

import type { KubeObject } from './meta-types.js';

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  /** MicroTime: RFC3339 with exactly six fractional digits. */
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number | null;
}

export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}
