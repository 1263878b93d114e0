// --metrics-bind-address: where kube components serve /metrics and /healthz.
import { describe, expect, it } from 'vitest';
import { FlagError, parseArgs } from '../../../src/kube/client/component-flags.js';
import { METRICS_FLAGS, metricsBindAddress } from '../../../src/kube/client/component-metrics.js';

const parse = (...argv: string[]): ReturnType<typeof metricsBindAddress> => {
  const f = parseArgs(argv, METRICS_FLAGS);
  if (f === 'help') throw new Error('help');
  return metricsBindAddress(f);
};

describe('--metrics-bind-address', () => {
  it('is off by default and takes host:port, IPv6 in brackets', () => {
    expect(parse()).toBeUndefined();
    expect(parse('--metrics-bind-address', '127.0.0.1:10251')).toEqual({ host: '127.0.0.1', port: 10251 });
    expect(parse('--metrics-bind-address=[::1]:0')).toEqual({ host: '::1', port: 0 });
  });

  it('refuses what is not host:port with a one-line reason', () => {
    for (const bad of ['10251', '127.0.0.1', '127.0.0.1:99999', 'host:port']) {
      expect(() => parse('--metrics-bind-address', bad)).toThrow(FlagError);
    }
    expect(() => parse('--metrics-bind-address', '10251')).toThrow('--metrics-bind-address: "10251" is not host:port (e.g. 127.0.0.1:10251)');
  });
});
