// Flag parsing shared by the three control-plane programs, and the programs' own behaviour on
// --help and bad flags (real processes: exit 2 with a one-line reason, never a stack trace).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMON_FLAGS, FlagError, flagBool, flagDurationMs, parseArgs, parseDurationMs, resolveMasters, type ParsedFlags } from '../../../src/kube/client/component-flags.js';
import { leaderElectionFlags, leaderElectionSettings } from '../../../src/kube/leader-election/leader-election-flags.js';
import { componentEntry, type ComponentKind } from '../control-plane-harness.js';

const SPECS = { ...COMMON_FLAGS, ...leaderElectionFlags('kube-scheduler') };

function parse(argv: string[]): ParsedFlags {
  const p = parseArgs(argv, SPECS);
  if (p === 'help') throw new Error('help');
  return p;
}

describe('component flags', () => {
  it('parses Go durations', () => {
    expect(parseDurationMs('15s')).toBe(15_000);
    expect(parseDurationMs('1m30s')).toBe(90_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(parseDurationMs('1.5h')).toBe(5_400_000);
    expect(parseDurationMs('0')).toBe(0);
    expect(() => parseDurationMs('15')).toThrow(/invalid duration/);
    expect(() => parseDurationMs('s')).toThrow(/invalid duration/);
  });

  it('takes --flag=value, --flag value and bare booleans; rejects unknown flags and bad values', () => {
    const f = parse(['--master=http://a:1,http://b:2', '--leader-elect-lease-duration', '20s', '--leader-elect=false']);
    expect(resolveMasters(f)).toEqual(['http://a:1', 'http://b:2']);
    expect(flagDurationMs(f, 'leader-elect-lease-duration')).toBe(20_000);
    expect(flagBool(f, 'leader-elect')).toBe(false);
    expect(flagBool(parse(['--leader-elect']), 'leader-elect')).toBe(true);
    expect(() => parse(['--nope'])).toThrow(/unknown flag: --nope/);
    expect(() => parse(['--leader-elect-retry-period', 'soon'])).toThrow(/invalid argument "soon" for --leader-elect-retry-period/);
    expect(() => parse(['--leader-elect=maybe'])).toThrow(/expected true or false/);
    expect(() => parse(['--master'])).toThrow(/needs an argument/);
    expect(parseArgs(['--help'], SPECS)).toBe('help');
  });

  it('finds the apiserver in --master or a kubeconfig, and says so when neither is given', () => {
    expect(() => resolveMasters(parse([]))).toThrow(/give --master/);
    expect(() => resolveMasters(parse(['--master', 'ftp://x:6443']))).toThrow(/expected an http:\/\/ or https:\/\/ URL/);
    const dir = mkdtempSync(join(tmpdir(), 'ketch-kubeconfig-'));
    const file = join(dir, 'config');
    writeFileSync(file, 'clusters: [{name: c, cluster: {server: "http://127.0.0.1:9999"}}]\ncontexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n');
    expect(resolveMasters(parse(['--kubeconfig', file]))).toEqual(['http://127.0.0.1:9999']);
    expect(() => resolveMasters(parse(['--kubeconfig', join(dir, 'missing')]))).toThrow(FlagError);
  });

  it("leader election: kube's defaults and validation", () => {
    expect(leaderElectionSettings(parse([]))).toEqual({ enabled: true, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, namespace: 'kube-system', name: 'kube-scheduler' });
    expect(() => leaderElectionSettings(parse(['--leader-elect-renew-deadline', '20s']))).toThrow(/leaseDuration must be greater than renewDeadline/);
    expect(() => leaderElectionSettings(parse(['--leader-elect-retry-period', '9s']))).toThrow(/renewDeadline must be greater than retryPeriod\*JitterFactor/);
    expect(() => leaderElectionSettings(parse(['--leader-elect-resource-lock', 'endpoints']))).toThrow(/only "leases"/);
    // Disabled: timings are not checked.
    expect(leaderElectionSettings(parse(['--leader-elect=false', '--leader-elect-renew-deadline', '20s'])).enabled).toBe(false);
  });
});

describe('programs', () => {
  const run = (kind: ComponentKind, args: string[]): { code: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [componentEntry(kind), ...args], { encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  for (const kind of ['scheduler', 'controller-manager', 'kubelet'] as const) {
    it(`ketch-${kind}: --help, and exit 2 with one line on bad flags`, () => {
      const help = run(kind, ['--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`usage: ketch-${kind}`);
      expect(help.stdout).toContain('--master');
      const none = run(kind, []);
      expect(none.code).toBe(2);
      expect(none.stderr).toBe(`ketch-${kind}: no apiserver: give --master URL[,URL...] or --kubeconfig FILE\n`);
      const bad = run(kind, ['--master', 'http://127.0.0.1:1', '--bogus']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toBe(`ketch-${kind}: unknown flag: --bogus\n`);
    });
  }

  it('ketch-kubelet rejects bad node flags', () => {
    expect(run('kubelet', ['--master', 'http://127.0.0.1:1', '--cpu', 'lots']).stderr).toMatch(/^ketch-kubelet: --cpu: quantities must match/);
    expect(run('kubelet', ['--master', 'http://127.0.0.1:1', '--nodes', '3', '--pod-cidr', '10.1.0.0/24']).stderr).toMatch(/--pod-cidr applies to one node/);
    expect(run('kubelet', ['--master', 'http://127.0.0.1:1', '--node-name', 'Bad_Name']).stderr).toMatch(/not a valid node name/);
  });

  it('ketch-controller-manager rejects unknown controllers and bad CIDRs', () => {
    expect(run('controller-manager', ['--master', 'http://127.0.0.1:1', '--controllers', '*,-bogus']).stderr).toMatch(/unknown controller "bogus"/);
    expect(run('controller-manager', ['--master', 'http://127.0.0.1:1', '--cluster-cidr', '10.0.0/8']).stderr).toMatch(/--cluster-cidr: invalid CIDR/);
  });
});
