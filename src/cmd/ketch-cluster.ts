#!/usr/bin/env node
/**
 * `ketch-cluster`: runs a whole Ketch cluster on this machine from a topology file in cluster/, and
 * kills, stops, pauses and restarts its members so users can watch leader failover.
 */
import { createReadStream, existsSync, statSync, watch } from 'node:fs';
import { parseArgs } from 'node:util';
import { LocalCluster } from '../launcher/local-cluster.js';
import { loadTopology, TopologyError } from '../launcher/topology.js';

const USAGE = `usage: ketch-cluster COMMAND [flags]

commands:
  up [-f cluster/ha.yaml] [--detach]   start every member, wait until healthy; Ctrl-C stops all
  status [-o json]                     every member: up/down, pid, leader, term, applied index
  down                                 stop every member (gracefully, then SIGKILL after 15 s)
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
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      file: { type: 'string', short: 'f' },
      'state-dir': { type: 'string', default: '.ketch' },
      detach: { type: 'boolean', default: false },
      output: { type: 'string', short: 'o', default: 'table' },
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
    case 'up':
      return up(cluster, (values.file as string | undefined) ?? 'cluster/ha.yaml', values.detach === true);
    case 'status': {
      const rows = await cluster.status();
      if (values.output === 'json') {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      } else {
        process.stdout.write('NAME        KIND    PID      STATE    LEADER  TERM  APPLIED  URL\n');
        for (const r of rows) {
          const state = !r.up ? 'down' : r.paused ? 'paused' : 'up';
          process.stdout.write(
            `${r.name.padEnd(11)} ${r.kind.padEnd(7)} ${String(r.pid).padEnd(8)} ${state.padEnd(8)} ${(r.leader ? 'yes' : '').padEnd(7)} ${String(r.term ?? '').padEnd(5)} ${String(r.appliedIndex ?? '').padEnd(8)} ${r.url}\n`,
          );
        }
        const cut = cluster.currentCut();
        if (cut.length > 0) process.stdout.write(`peer links cut: ${cut.map(([a, b]) => `${a}-${b}`).join(' ')} ('ketch-cluster heal' restores them)\n`);
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

async function up(cluster: LocalCluster, file: string, detach: boolean): Promise<number> {
  const topology = loadTopology(file);
  const state = await cluster.up(file, topology);
  process.stdout.write(`starting ${topology.name}: ${state.members.map((m) => m.name).join(', ')} (logs in ${cluster.stateDir})\n`);
  const t0 = Date.now();
  await cluster.waitHealthy(30_000);
  const endpoints = state.members.map((m) => m.url).join(',');
  process.stdout.write(
    [
      `healthy after ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      '',
      ...state.members.map((m) => `  ${m.name.padEnd(10)} ${m.url}  (pid ${m.pid})`),
      '',
      'try:',
      `  ETCDCTL_API=3 etcdctl --endpoints ${endpoints} put hello world`,
      `  ETCDCTL_API=3 etcdctl --endpoints ${endpoints} endpoint status -w table`,
      `  npx ketch-cluster status            # who leads`,
      `  npx ketch-cluster kill store-1      # then status again: a new leader`,
      `  npx ketch-cluster start store-1`,
      `  npx ketch-cluster partition store-1  # cut its peer links; 'heal' restores them`,
      '',
    ].join('\n'),
  );
  if (detach) {
    process.stdout.write("running in the background; stop it with 'npx ketch-cluster down'\n");
    return 0;
  }
  process.stdout.write('Ctrl-C stops the cluster\n');
  // Report what changes (a member going down or up, a new leader) until told to stop.
  let last = '';
  const monitor = setInterval(() => {
    void cluster.status().then((rows) => {
      const now = rows.map((r) => `${r.name}:${!r.up ? 'down' : r.paused ? 'paused' : r.leader ? 'leader' : 'up'}`).join(' ');
      if (now !== last && last !== '') process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${now}\n`);
      last = now;
    });
  }, 1000);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(monitor);
  process.stdout.write('\nstopping...\n');
  await cluster.down();
  process.stdout.write('all members stopped\n');
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
    process.exitCode = code;
  },
  (err: unknown) => {
    const known = err instanceof UsageError || err instanceof TopologyError || err instanceof Error;
    process.stderr.write(`ketch-cluster: ${known ? (err as Error).message : String(err)}\n`);
    if (err instanceof UsageError) process.stderr.write("see 'ketch-cluster --help'\n");
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
