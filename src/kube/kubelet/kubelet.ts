// A ketch-kubelet process: one or more simulated nodes (heartbeats and status per node) sharing
// one simulated container runtime.

import type { Logger } from 'pino';
import type { Clock } from '../client/clock.js';
import type { KubeClient } from '../client/kube-client.js';
import { DEFAULT_NODE_AGENT, NodeAgent, type NodeAgentOptions } from './node-agent.js';
import type { SimNodeSpec } from './node-object.js';
import { DEFAULT_POD_RUNNER, PodRunner, type PodRunnerOptions } from './pod-runner.js';

export interface KubeletOptions {
  client: KubeClient;
  clock: Clock;
  nodes: readonly SimNodeSpec[];
  agent?: NodeAgentOptions;
  runtime?: PodRunnerOptions;
  logger?: Logger;
}

export class Kubelet {
  readonly agents: NodeAgent[];
  readonly runner: PodRunner;

  constructor(opts: KubeletOptions) {
    if (opts.nodes.length === 0) throw new Error('kubelet: no nodes to run');
    const names = new Set(opts.nodes.map((n) => n.name));
    if (names.size !== opts.nodes.length) throw new Error('kubelet: node names must be unique');
    this.runner = new PodRunner(opts.client, opts.clock, opts.nodes, opts.runtime ?? DEFAULT_POD_RUNNER, opts.logger);
    this.agents = opts.nodes.map((spec) => new NodeAgent(opts.client, opts.clock, spec, opts.agent ?? DEFAULT_NODE_AGENT, opts.logger, this.runner.recorderFor(spec.name)));
  }

  /** Runs every node and the runtime until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([...this.agents.map((a) => a.run(signal)), this.runner.run(signal)]);
  }
}
