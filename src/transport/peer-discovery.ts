// How a member that joins a running cluster (--initial-cluster-state existing) learns the cluster
// ID and membership: it asks the peers named in --initial-cluster over their peer URLs (Peer.Members),
// as etcd's GetClusterFromRemotePeers does with GET /members.

import * as grpc from '@grpc/grpc-js';

import { peerChannelOptions } from './grpc-options.js';
import { explainTlsFailure, NO_PEER_TLS, type PeerCredentials } from './peer-credentials.js';
import { isSecurePeerUrl, peerUrlToTarget } from './peer-url.js';
import { peerMethod, type WireMember, type WireMembersRequest, type WireMembersResponse } from './raft-proto.js';

/** A member as the membership records it (the shape of etcd's membership.Member). */
export interface ClusterMember {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export interface DiscoveredCluster {
  clusterId: string;
  members: ClusterMember[];
}

export function toWireMember(m: ClusterMember): WireMember {
  return { id: m.id, name: m.name, peerUrls: m.peerURLs, clientUrls: m.clientURLs, isLearner: m.isLearner };
}

export function fromWireMember(w: WireMember): ClusterMember {
  return {
    id: w.id ?? '',
    name: w.name ?? '',
    peerURLs: [...(w.peerUrls ?? [])],
    clientURLs: [...(w.clientUrls ?? [])],
    isLearner: w.isLearner ?? false,
  };
}

/**
 * Asks every URL at once and resolves with the first answer. Rejects, naming each URL and why it
 * failed, if none answers within `timeoutMs`. `clusterId`, when given, must match the answer's.
 */
export async function discoverCluster(
  peerUrls: readonly string[],
  opts: { timeoutMs: number; clusterId?: string; credentials?: PeerCredentials },
): Promise<DiscoveredCluster> {
  const credentials = opts.credentials ?? NO_PEER_TLS;
  if (peerUrls.length === 0) throw new Error('cannot discover the cluster: no peer URLs to ask');
  const method = peerMethod('Members');
  const deadline = Date.now() + opts.timeoutMs;
  const clients: grpc.Client[] = [];
  const calls: grpc.ClientUnaryCall[] = [];
  const failures: string[] = [];
  try {
    return await new Promise<DiscoveredCluster>((resolve, reject) => {
      let pending = peerUrls.length;
      const failed = (url: string, reason: string): void => {
        failures.push(`${url}: ${reason}`);
        if (--pending === 0) reject(new Error(`cannot discover the cluster from its peers (${failures.join('; ')})`));
      };
      for (const url of peerUrls) {
        let target: string;
        try {
          target = peerUrlToTarget(url);
        } catch (err) {
          failed(url, (err as Error).message);
          continue;
        }
        const client = new grpc.Client(target, credentials.forUrl(url), peerChannelOptions);
        clients.push(client);
        const request: WireMembersRequest = { clusterId: opts.clusterId ?? '' };
        calls.push(
          client.makeUnaryRequest<WireMembersRequest, WireMembersResponse>(
            method.path,
            method.requestSerialize,
            method.responseDeserialize,
            request,
            // Wait for a peer that is still starting, up to the deadline.
            new grpc.Metadata({ waitForReady: true }),
            { deadline },
            (err, response) => {
              if (err !== null || response === undefined) {
                const reason = err === null ? 'empty answer' : `${grpc.status[err.code] ?? err.code}: ${err.details}`;
                if (err === null || err.code === grpc.status.FAILED_PRECONDITION || !isSecurePeerUrl(url)) failed(url, reason);
                // grpc-js hides a failed TLS handshake behind its retries: find out why, once.
                else void explainTlsFailure(url, credentials.tls).then((why) => failed(url, why === undefined ? reason : `${reason}; TLS: ${why}`));
                return;
              }
              if (!response.clusterId) {
                failed(url, 'answer names no cluster ID');
                return;
              }
              resolve({ clusterId: response.clusterId, members: (response.members ?? []).map(fromWireMember) });
            },
          ),
        );
      }
    });
  } finally {
    for (const call of calls) call.cancel();
    for (const client of clients) client.close();
  }
}
