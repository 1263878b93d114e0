// `snapshot restore`: a fresh member data dir for a NEW cluster, holding the state of a snapshot
// file (ketch or etcd 3.4). Run it once per member of the new cluster, from the same file and with
// the same --initial-cluster, as with etcdctl.
//
// What it writes is what a member has after installing a raft snapshot (as etcdctl writes a WAL
// and a snap for the new membership): hard state {term 1, commit S}, a raft snapshot at index S,
// term 1, whose ConfState holds the new members as voters, and the app state at applied index S:
// the MVCC records, the leases, and the new membership. `ketch` then starts from the data dir like
// any restarted member, so the --initial-cluster flags it is given are not needed (and, as for
// etcd, not read).
//
// S is the store's revision plus the number of members N. etcd uses N, the length of the
// bootstrap log, so a member mistakenly started EMPTY with the same flags has a log that matches
// the restored ones and silently serves an empty store. With S > N such a member's log ends
// before the leader's begins and it is sent the whole state; members restored from snapshots of
// different revisions likewise converge on the leader's state instead of disagreeing.

import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';

import { NONE } from '../raft/types.js';
import { AUTH_RECORD_PREFIX, AuthStore } from '../server/auth/auth-store.js';
import { LEASE_RECORD_PREFIX, Lessor } from '../server/lessor.js';
import { clusterId as computeClusterId, memberId as computeMemberId } from '../server/member-id.js';
import { Membership } from '../server/membership.js';
import { MemberStore } from '../storage/member-store.js';
import { SnapshotError, SnapshotErrorCode } from './snapshot-error.js';
import type { SnapshotFormat } from './snapshot-file.js';
import { loadSnapshot } from './snapshot-load.js';

/** The raft term of the restored state (etcd's restore uses 1 too). */
const RESTORE_TERM = 1;

export interface RestoreOptions {
  /** The snapshot file (`snapshot save` of ketch or etcd 3.4). */
  readonly snapshotPath: string;
  /** This member's name; etcdctl's default "default". */
  readonly name?: string;
  /** `name=peerURL,...` (a name may repeat for several URLs); default `<name>=<advertise peer URLs>`. */
  readonly initialCluster?: string;
  /** Default "etcd-cluster", as etcd and ketch. */
  readonly initialClusterToken?: string;
  /** This member's peer URLs (comma-separated or a list); default http://localhost:2380. */
  readonly initialAdvertisePeerUrls?: string | readonly string[];
  /** Where to write; must not exist or be empty. Default `<name>.etcd`. */
  readonly dataDir?: string;
  /** Do not verify the SHA-256 trailer (required for a file without one, e.g. a copied bbolt db). */
  readonly skipHashCheck?: boolean;
}

export interface RestoredMember {
  readonly name: string;
  /** Hex, as etcdctl prints member IDs. */
  readonly id: string;
  readonly peerURLs: string[];
}

export interface RestoreResult {
  readonly dataDir: string;
  readonly format: SnapshotFormat;
  /** This member's ID and the new cluster's ID (hex). */
  readonly memberId: string;
  readonly clusterId: string;
  readonly members: RestoredMember[];
  /** The restored store's current revision (the source's). */
  readonly revision: number;
  readonly compactRevision: number;
  /** Live keys, and every kept revision record (history included). */
  readonly keys: number;
  readonly revisions: number;
  readonly leases: number;
  /** What the source had that the restored cluster will not have (e.g. etcd auth). */
  readonly warnings: string[];
}

const DEFAULT_NAME = 'default';
const DEFAULT_PEER_URL = 'http://localhost:2380';
const DEFAULT_TOKEN = 'etcd-cluster';

function invalid(message: string): SnapshotError {
  return new SnapshotError(SnapshotErrorCode.InvalidArgument, message);
}

/** A peer URL as etcd's types.NewURLs accepts it: http(s)://host:port, nothing after the port. */
function peerUrl(raw: string, flag: string): string {
  const text = raw.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(`${flag}: ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(`${flag}: URL scheme must be http or https: ${JSON.stringify(text)}`);
  }
  if (url.port === '') throw invalid(`${flag}: URL address does not have the form "host:port": ${JSON.stringify(text)}`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw invalid(`${flag}: URL must not contain a path: ${JSON.stringify(text)}`);
  }
  return text.replace(/\/$/, '');
}

function urlList(value: string | readonly string[], flag: string): string[] {
  const parts = typeof value === 'string' ? value.split(',') : [...value];
  const urls = parts.filter((p) => p.trim() !== '').map((p) => peerUrl(p, flag));
  if (urls.length === 0) throw invalid(`${flag} is empty`);
  return urls;
}

/** etcd's --initial-cluster: name=URL pairs, comma-separated; a name may appear more than once. */
export function parseInitialCluster(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw invalid(`--initial-cluster: ${JSON.stringify(part)} is not name=peerURL`);
    const name = part.slice(0, eq).trim();
    const list = out.get(name) ?? [];
    list.push(peerUrl(part.slice(eq + 1), '--initial-cluster'));
    out.set(name, list);
  }
  if (out.size === 0) throw invalid('--initial-cluster is empty');
  const seen = new Map<string, string>();
  for (const [name, urls] of out) {
    for (const u of urls) {
      const other = seen.get(u);
      if (other !== undefined) throw invalid(`--initial-cluster: peer URL ${u} is given for both ${other} and ${name}`);
      seen.set(u, name);
    }
  }
  return out;
}

async function refuseNonEmpty(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new SnapshotError(SnapshotErrorCode.DataDirExists, `data-dir ${JSON.stringify(dir)} exists and is not a directory`);
    throw err;
  }
  if (names.length > 0) {
    throw new SnapshotError(
      SnapshotErrorCode.DataDirExists,
      `data-dir ${JSON.stringify(dir)} exists and is not empty; restore writes a fresh data dir (remove it or choose another)`,
    );
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Restores one member's data dir from a ketch or etcd 3.4 snapshot file. Throws SnapshotError for
 * bad options, an existing non-empty data dir, and damaged or truncated files; on any failure
 * nothing is left at dataDir.
 */
export async function restoreSnapshot(opts: RestoreOptions): Promise<RestoreResult> {
  const name = opts.name ?? DEFAULT_NAME;
  if (name.trim() === '') throw invalid('--name must not be empty');
  const advertised = urlList(opts.initialAdvertisePeerUrls ?? DEFAULT_PEER_URL, '--initial-advertise-peer-urls');
  const cluster = parseInitialCluster(opts.initialCluster ?? advertised.map((u) => `${name}=${u}`).join(','));
  const token = opts.initialClusterToken ?? DEFAULT_TOKEN;
  const own = cluster.get(name);
  if (own === undefined) {
    throw invalid(`couldn't find local name ${JSON.stringify(name)} in the initial cluster configuration (--initial-cluster)`);
  }
  if ([...own].sort().join(',') !== [...advertised].sort().join(',')) {
    throw invalid(
      `--initial-cluster has ${name}=${own.join(',')} but --initial-advertise-peer-urls is ${advertised.join(',')}; they must match`,
    );
  }
  const dataDir = path.resolve(opts.dataDir ?? `${name}.etcd`);
  await refuseNonEmpty(dataDir);

  const loaded = await loadSnapshot(opts.snapshotPath, { skipHashCheck: opts.skipHashCheck === true, requireChecksum: true });

  // Member and cluster IDs exactly as a new cluster with these flags computes them.
  const members: RestoredMember[] = [...cluster]
    .map(([memberName, urls]) => ({ name: memberName, id: computeMemberId(urls, token), peerURLs: [...urls] }))
    .sort((a, b) => (BigInt(`0x${a.id}`) < BigInt(`0x${b.id}`) ? -1 : 1));
  const ids = members.map((m) => m.id);
  if (new Set(ids).size !== ids.length) throw invalid('--initial-cluster: two members have the same peer URLs');
  const memberId = computeMemberId(own, token);
  const clusterId = computeClusterId(ids);
  const membership = Membership.fromJSON({
    members: members.map((m) => ({ id: m.id, name: m.name, peerURLs: m.peerURLs, clientURLs: [], isLearner: false })),
    removed: [],
    alarms: [],
  });
  const index = loaded.mvcc.store.currentRevision + members.length;

  // Written beside the target and renamed into place, so a failure never leaves a half-made data dir.
  const parent = path.dirname(dataDir);
  await mkdir(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(dataDir)}.restore-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp, { mode: 0o700 });
  try {
    const store = await MemberStore.open(tmp);
    try {
      await store.setMeta('member-id', Buffer.from(memberId));
      await store.setMeta('cluster-id', Buffer.from(clusterId));
      await store.installSnapshot(
        {
          hardState: { term: RESTORE_TERM, vote: NONE, commit: index },
          entries: [],
          snapshot: { index, term: RESTORE_TERM, confState: { voters: ids, learners: [] } },
        },
        {
          prefixes: [Buffer.from('m'), Buffer.from('c'), LEASE_RECORD_PREFIX, AUTH_RECORD_PREFIX],
          // Users and roles come along (ketch snapshots); tokens are per member and do not.
          ops: [...loaded.mvcc.ops, ...membership.allOps(), ...Lessor.opsFor(loaded.leases), ...AuthStore.opsFor(loaded.ketchState?.auth)],
          applied: index,
        },
      );
    } finally {
      await store.close();
    }
    await refuseNonEmpty(dataDir); // again: someone may have written there meanwhile
    await rename(tmp, dataDir);
    await fsyncDir(parent);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }

  const store = loaded.mvcc.store;
  const stats = store.stats();
  return {
    dataDir,
    format: loaded.file.format,
    memberId,
    clusterId,
    members,
    revision: store.currentRevision,
    compactRevision: store.compactRevision,
    keys: stats.keys,
    revisions: stats.revisions,
    leases: loaded.leases.length,
    warnings: loaded.warnings,
  };
}
