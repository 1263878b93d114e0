#!/usr/bin/env node
/**
 * `ketch-cluster`: runs a whole Ketch cluster on this machine from a topology file in cluster/, and
 * kills, stops, pauses and restarts its members so users can watch leader failover.
 */
import { createReadStream, existsSync, statSync, watch } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { LocalCluster, type ClusterState, type LeaseStatus, type MemberStatus } from '../launcher/local-cluster.js';
import { parseLoadBalancerArgs, TcpLoadBalancer } from '../launcher/tcp-load-balancer.js';
import { loadTopology, TopologyError } from '../launcher/topology.js';

const USAGE = `usage: ketch-cluster COMMAND [flags]

commands:
  up [-f cluster/ha.yaml] [--detach] [--dashboard[=PORT]]
                                       start stores, apiservers, the lb, then schedulers, controller
                                       managers and kubelets, each tier healthy before the next; write
                                       <state-dir>/kubeconfig (pointing at the lb); Ctrl-C stops all;
                                       --dashboard also serves the web dashboard (port 8088)
  dashboard [--port 8088]              serve the live web dashboard of the running cluster on
                                       http://127.0.0.1:PORT/: store members and leader, timeline,
                                       apiservers, Lease holders, nodes and pods; buttons to kill,
                                       pause, partition and restart members
  status [-o json]                     every member: kind, pid, up/down, leader (raft leader of the
                                       stores, Lease holder among schedulers / controller managers),
                                       term, index, url; who holds each Lease
  down                                 stop every member in reverse order (SIGTERM, SIGKILL after 15 s)
  logs MEMBER [-f]                     print (and follow) a member's log
  kill MEMBER                          SIGKILL
  stop MEMBER | start MEMBER           SIGTERM / start again with its data dir
  pause MEMBER | resume MEMBER         SIGSTOP / SIGCONT
  partition MEMBER...                  cut the peer links between the named store members and the
                                       others (one name isolates that member); replaces any earlier cut
  heal                                 let all peer traffic through again

flags:
  --state-dir DIR   where data dirs, logs and pids live (default .ketch)
`;

async function main(argv: string[]): Promise<number> {
  // The launcher starts the lb as its own process through this hidden command (see `up`).
  if (argv[0] === '__lb') return serveLoadBalancer(argv.slice(1));
  const { values, positionals } = parseArgs({
    // `--dashboard` alone means the default port (parseArgs has no optional values).
    args: argv.map((a) => (a === '--dashboard' ? `--dashboard=${DASHBOARD_PORT}` : a)),
    allowPositionals: true,
    options: {
      file: { type: 'string', short: 'f' },
      'state-dir': { type: 'string', default: '.ketch' },
      detach: { type: 'boolean', default: false },
      output: { type: 'string', short: 'o', default: 'table' },
      dashboard: { type: 'string' },
      port: { type: 'string', default: String(DASHBOARD_PORT) },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, member, ...moreMembers] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  const cluster = new LocalCluster(values['state-dir'] as string);
  const needMember = (): string => {
    if (member === undefined) throw new UsageError(`${command} needs a MEMBER name`);
    return member;
  };
  switch (command) {
    case 'up': {
      const dashboardPort = values.dashboard === undefined ? undefined : parsePort(values.dashboard, '--dashboard');
      if (dashboardPort !== undefined && values.detach === true) {
        throw new UsageError(`--dashboard is served by the foreground 'up'; with --detach, run 'ketch-cluster dashboard${stateDirFlag(cluster)}' instead`);
      }
      return up(cluster, (values.file as string | undefined) ?? 'cluster/ha.yaml', values.detach === true, dashboardPort);
    }
    case 'dashboard':
      return serveDashboard(cluster, parsePort(values.port as string, '--port'));
    case 'status': {
      const rows = await cluster.status();
      if (values.output === 'json') {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      } else if (values.output === 'table') {
        process.stdout.write(statusTable(rows, await cluster.leases()));
        const cut = cluster.currentCut();
        if (cut.length > 0) process.stdout.write(`peer links cut: ${cut.map(([a, b]) => `${a}-${b}`).join(' ')} ('ketch-cluster heal' restores them)\n`);
      } else {
        throw new UsageError(`-o ${values.output}: expected table or json`);
      }
      return 0;
    }
    case 'down':
      await cluster.down();
      process.stdout.write('all members stopped\n');
      return 0;
    case 'kill':
      cluster.signal(needMember(), 'SIGKILL');
      return 0;
    case 'stop':
      cluster.signal(needMember(), 'SIGTERM');
      return 0;
    case 'pause':
      cluster.signal(needMember(), 'SIGSTOP');
      return 0;
    case 'resume':
      cluster.signal(needMember(), 'SIGCONT');
      return 0;
    case 'start':
      cluster.start(needMember());
      return 0;
    case 'logs':
      return logs(cluster.member(needMember()).log, argv.includes('-f'));
    case 'partition': {
      const cut = await cluster.partition([needMember(), ...moreMembers]);
      process.stdout.write(`cut ${cut.map(([a, b]) => `${a}-${b}`).join(' ')}\n`);
      return 0;
    }
    case 'heal':
      await cluster.heal();
      process.stdout.write('healed: all peer links are open\n');
      return 0;
    case '__link-proxies':
      // The launcher starts this as its own process to run the peer link proxies (see `up`).
      await LocalCluster.serveLinks(values['state-dir'] as string);
      return 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

class UsageError extends Error {}

const DASHBOARD_PORT = 8088;

function parsePort(text: string, flag: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`${flag} ${text}: expected a port number (0-65535; 0 picks a free one)`);
  return port;
}

/** The dashboard (loaded on demand: it brings the etcd and Kubernetes clients along). */
async function openDashboard(cluster: LocalCluster, port: number): Promise<{ url: string; close(): Promise<void> }> {
  const { startDashboard } = await import('../launcher/dashboard/start-dashboard.js');
  // Quiet: warnings and errors only, on stderr, so stdout stays the launcher's own lines.
  return startDashboard(cluster, port, pino({ level: 'warn', base: { name: 'ketch-dashboard' } }, pino.destination(2)));
}

/** `ketch-cluster dashboard`: serves until Ctrl-C or SIGTERM. */
async function serveDashboard(cluster: LocalCluster, port: number): Promise<number> {
  cluster.readState();
  const dashboard = await openDashboard(cluster, port);
  process.stdout.write(`dashboard of ${cluster.stateDir} on ${dashboard.url} (Ctrl-C stops it)\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await dashboard.close();
  return 0;
}

function statusTable(rows: MemberStatus[], leases: LeaseStatus[]): string {
  const table = [['NAME', 'KIND', 'PID', 'STATE', 'LEADER', 'TERM', 'INDEX', 'URL']];
  for (const r of rows) {
    const state = !r.up ? 'down' : r.paused ? 'paused' : 'up';
    table.push([r.name, r.kind, String(r.pid), state, r.leader ? 'yes' : '', String(r.term ?? ''), String(r.index ?? ''), r.url]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  const lines = table.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  for (const l of leases) {
    const who = l.holder ?? (l.holderIdentity === undefined ? 'nobody (no current holder)' : `${l.holderIdentity} (not a member of this cluster)`);
    lines.push(`Lease ${l.lease}: ${who}`);
  }
  return `${lines.join('\n')}\n`;
}

async function up(cluster: LocalCluster, file: string, detach: boolean, dashboardPort?: number): Promise<number> {
  const topology = loadTopology(file);
  const strays = cluster.strayMembers(topology);
  if (strays.length > 0) throw new Error(`${strays.join(', ')} still running from an earlier 'up' in ${cluster.stateDir} but not in ${file}; run 'ketch-cluster down' first`);
  process.stdout.write(`starting ${topology.name} (logs in ${cluster.stateDir})\n`);
  const t0 = Date.now();
  // Ctrl-C while starting stops what was started so far (after the tier being spawned).
  const interrupted = new AbortController();
  const interrupt = (): void => interrupted.abort(new Error('interrupted'));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  let state: ClusterState;
  try {
    const progress = (kinds: readonly string[], names: string[]): void => {
      process.stdout.write(`  ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s  starting ${kinds.join(', ')}: ${names.join(', ')}\n`);
    };
    state = await cluster.up(file, topology, progress, interrupted.signal);
  } catch (err) {
    process.stderr.write(`ketch-cluster: ${(err as Error).message}\nstopping what was started...\n`);
    await cluster.down(5_000).catch(() => undefined);
    return 1;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
  process.stdout.write(`healthy after ${((Date.now() - t0) / 1000).toFixed(1)} s\n\n`);
  process.stdout.write(usageHints(cluster, state));
  if (detach) {
    process.stdout.write(`running in the background; stop it with '${program('ketch-cluster')} down${stateDirFlag(cluster)}'\n`);
    return 0;
  }
  const dashboard = dashboardPort === undefined ? undefined : await openDashboard(cluster, dashboardPort).catch((err: unknown) => {
    process.stderr.write(`ketch-cluster: the dashboard did not start: ${(err as Error).message}\n`);
    return undefined;
  });
  if (dashboard !== undefined) process.stdout.write(`dashboard on ${dashboard.url}\n`);
  process.stdout.write('Ctrl-C stops the cluster\n');
  // Report what changes (a member going down or up, a new leader) until told to stop.
  let last = new Map<string, string>();
  let polling = false;
  const monitor = setInterval(() => {
    if (polling) return;
    polling = true;
    void cluster
      .status()
      .then((rows) => {
        const now = new Map(rows.map((r) => [r.name, !r.up ? 'down' : r.paused ? 'paused' : r.leader ? 'leader' : 'up']));
        const changes = [...now].filter(([name, what]) => last.size > 0 && last.get(name) !== what).map(([name, what]) => `${name} ${last.get(name) ?? '?'} -> ${what}`);
        if (changes.length > 0) process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${changes.join(', ')}\n`);
        last = now;
      })
      .finally(() => {
        polling = false;
      });
  }, 1000);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(monitor);
  await dashboard?.close();
  process.stdout.write('\nstopping...\n');
  await cluster.down();
  process.stdout.write('all members stopped\n');
  return 0;
}

/**
 * How to run one of our programs from here: `node dist/src/cmd/X.js` (relative to the working
 * directory when below it). Not `npx X`: npm 11 then installs this very package into its cache
 * and compiles it first, which takes minutes.
 */
function program(name: string): string {
  const entry = join(dirname(fileURLToPath(import.meta.url)), `${name}.js`);
  const rel = relative(process.cwd(), entry);
  return `node ${rel.startsWith('..') || isAbsolute(rel) ? entry : rel}`;
}

function stateDirFlag(cluster: LocalCluster): string {
  return cluster.stateDir === '.ketch' ? '' : ` --state-dir ${cluster.stateDir}`;
}

/** The members and the commands to use the cluster, as `up` prints them. */
function usageHints(cluster: LocalCluster, state: ClusterState): string {
  const width = Math.max(...state.members.map((m) => m.name.length));
  const lines = state.members.map((m) => `  ${m.name.padEnd(width)}  ${m.kind.padEnd(18)} pid ${String(m.pid).padEnd(8)} ${m.url}`);
  const endpoints = state.members.filter((m) => m.kind === 'store').map((m) => m.url).join(',');
  const firstStore = state.members.find((m) => m.kind === 'store')?.name ?? 'store-1';
  const flag = stateDirFlag(cluster);
  lines.push('', 'try:');
  if (state.kubeconfig !== undefined) {
    lines.push(
      `  kubectl --kubeconfig ${state.kubeconfig} get nodes`,
      `  kubectl --kubeconfig ${state.kubeconfig} create deployment web --image nginx --replicas 3`,
      `  export KUBECONFIG=${state.kubeconfig}   # then plain kubectl`,
    );
    if (state.tls === true) {
      lines.push(`  # TLS: apiservers are HTTPS with RBAC; the kubeconfig holds the admin certificate (O=system:masters), certificates are in ${join(cluster.stateDir, 'pki')}`);
    }
  }
  const ctl = program('ketchctl');
  // A TLS cluster's stores want a client certificate: the admin's (etcdctl takes the same flags).
  const pki = join(cluster.stateDir, 'pki');
  const tlsFlags = state.tls === true ? ` --cacert ${join(pki, 'ca.crt')} --cert ${join(pki, 'admin.crt')} --key ${join(pki, 'admin.key')}` : '';
  const kc = program('ketch-cluster');
  lines.push(
    `  ${ctl} --endpoints ${endpoints}${tlsFlags} put hello world`,
    `  ${ctl} --endpoints ${endpoints}${tlsFlags} endpoint status -w table`,
    `  ${kc} status${flag}          # who leads: store raft leader, Lease holders`,
    `  ${kc} kill ${firstStore}${flag}    # then status again: a new leader`,
    `  ${kc} start ${firstStore}${flag}`,
    `  ${kc} partition ${firstStore}${flag}  # cut its peer links; 'heal' restores them`,
    '',
  );
  return `${lines.join('\n')}\n`;
}

/** `ketch-cluster __lb ...`: the TCP load balancer in front of the apiservers, until SIGTERM. */
async function serveLoadBalancer(argv: string[]): Promise<number> {
  const { logLevel, ...options } = parseLoadBalancerArgs(argv);
  const log = pino({ level: logLevel, base: { name: 'ketch-lb' } });
  const lb = await TcpLoadBalancer.start({ ...options, log });
  log.info({ listen: `${options.host}:${lb.port}`, backends: options.backends }, 'load balancer listening');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await lb.close();
  log.info('stopped');
  return 0;
}

async function logs(path: string, follow: boolean): Promise<number> {
  if (!existsSync(path)) throw new Error(`no log at ${path}`);
  await new Promise<void>((resolve, reject) => {
    createReadStream(path).on('error', reject).on('end', resolve).pipe(process.stdout, { end: false });
  });
  if (!follow) return 0;
  let offset = statSync(path).size;
  watch(path, () => {
    const size = statSync(path).size;
    if (size > offset) {
      createReadStream(path, { start: offset, end: size - 1 }).pipe(process.stdout, { end: false });
      offset = size;
    }
  });
  await new Promise<void>((resolve) => process.once('SIGINT', resolve));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    // Exit now rather than when fetch's idle keep-alive sockets time out (seconds later).
    process.exit(code);
  },
  (err: unknown) => {
    const known = err instanceof UsageError || err instanceof TopologyError || err instanceof Error;
    process.stderr.write(`ketch-cluster: ${known ? (err as Error).message : String(err)}\n`);
    if (err instanceof UsageError) process.stderr.write("see 'ketch-cluster --help'\n");
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
