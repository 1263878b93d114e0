import { closeSync, openSync, readSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/**
 * What the launcher asks running members: store health and raft metrics, apiserver readiness,
 * Lease holders and node readiness (through an apiserver), and which Lease identity a
 * scheduler or controller manager process uses (from its own log).
 */

const TIMEOUT_MS = 1500;

/** How to reach https:// apiservers of a TLS cluster: its CA, and a client certificate (the admin's). */
export interface ApiAccess {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** One GET over http or https (with `access` for the latter); the status and body text. */
export function httpGet(url: string, access: ApiAccess = {}, timeoutMs = TIMEOUT_MS): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const onResponse = (res: import('node:http').IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    };
    const options = { signal: AbortSignal.timeout(timeoutMs), ...(target.protocol === 'https:' ? access : {}) };
    const req = target.protocol === 'https:' ? httpsRequest(target, options, onResponse) : httpRequest(target, options, onResponse);
    req.on('error', reject);
    req.end();
  });
}

async function getJson(url: string, access: ApiAccess): Promise<{ status: number; body: unknown }> {
  const res = await httpGet(url, access);
  const status = res.status;
  const text = res.text;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status, body };
}

/** A store member's /health: true when it has a leader. */
export async function storeHealthy(url: string, access: ApiAccess = {}): Promise<boolean> {
  try {
    return (await httpGet(`${url}/health`, access)).status === 200;
  } catch {
    return false;
  }
}

/** An apiserver's (or the lb's, through it) /readyz. */
export async function apiReady(url: string, access: ApiAccess = {}): Promise<boolean> {
  try {
    return (await httpGet(`${url}/readyz`, access)).status === 200;
  } catch {
    return false;
  }
}

/** A store member's Prometheus metrics as name → value (unlabelled series only). */
export async function fetchMetrics(url: string, access: ApiAccess = {}): Promise<Map<string, number> | undefined> {
  try {
    const res = await httpGet(`${url}/metrics`, access);
    const out = new Map<string, number>();
    for (const line of res.text.split('\n')) {
      const m = /^([a-z_]+) ([0-9.e+-]+)$/.exec(line);
      if (m !== null) out.set(m[1] as string, Number(m[2]));
    }
    return out;
  } catch {
    return undefined;
  }
}

export interface LeaseView {
  holderIdentity: string | undefined;
  /** False when the holder has not renewed within leaseDurationSeconds (it is no longer leading). */
  current: boolean;
}

/** The Lease fields that say who leads. */
export interface LeaseSpecFields {
  holderIdentity?: string | null;
  renewTime?: string | null;
  leaseDurationSeconds?: number | null;
}

/** Who holds a Lease at `nowMs`. Same machine, same clock: a Lease past renewTime + duration has no acting leader. */
export function leaseHolder(spec: LeaseSpecFields, nowMs: number): LeaseView {
  const holder = spec.holderIdentity === '' || spec.holderIdentity === null ? undefined : spec.holderIdentity;
  const renewed = spec.renewTime === undefined || spec.renewTime === null ? NaN : Date.parse(spec.renewTime);
  const current = holder !== undefined && Number.isFinite(renewed) && renewed + (spec.leaseDurationSeconds ?? 0) * 1000 > nowMs;
  return { holderIdentity: holder, current };
}

/**
 * A Lease read through the first of `apiUrls` that answers; undefined when none answers, a view
 * with no holder when the Lease does not exist yet.
 */
export async function readLease(apiUrls: readonly string[], namespace: string, name: string, access: ApiAccess = {}): Promise<LeaseView | undefined> {
  for (const api of apiUrls) {
    try {
      const { status, body } = await getJson(`${api}/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`, access);
      if (status === 404) return { holderIdentity: undefined, current: false };
      if (status !== 200) continue;
      return leaseHolder((body as { spec?: LeaseSpecFields }).spec ?? {}, Date.now());
    } catch {
      // Try the next apiserver.
    }
  }
  return undefined;
}

/** Whether every named node exists with condition Ready=True, asked through the first apiserver that answers. */
export async function nodesReady(apiUrls: readonly string[], names: readonly string[], access: ApiAccess = {}): Promise<boolean> {
  for (const api of apiUrls) {
    try {
      const { status, body } = await getJson(`${api}/api/v1/nodes`, access);
      if (status !== 200) continue;
      const items = (body as { items?: Array<{ metadata?: { name?: string }; status?: { conditions?: Array<{ type?: string; status?: string }> } }> }).items ?? [];
      const ready = new Set(items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).map((n) => n.metadata?.name));
      return names.every((n) => ready.has(n));
    } catch {
      // Try the next apiserver.
    }
  }
  return false;
}

/**
 * The leader-election identity a scheduler or controller manager logs (pino's `identity` field)
 * from byte `offset` of its log on, i.e. since the launcher last started it.
 */
export function loggedIdentity(logPath: string, offset: number): string | undefined {
  let fd: number;
  try {
    fd = openSync(logPath, 'r');
  } catch {
    return undefined;
  }
  try {
    // The first line names it; a little more covers any line written before.
    const buf = Buffer.alloc(64 * 1024);
    const n = readSync(fd, buf, 0, buf.length, offset);
    const m = /"identity":"([^"]+)"/.exec(buf.subarray(0, n).toString('utf8'));
    return m?.[1];
  } finally {
    closeSync(fd);
  }
}
