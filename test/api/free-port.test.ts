import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { freePorts } from './free-port.js';

describe('freePorts', () => {
  it('hands out distinct ports of this worker\'s slice, below the ephemeral range, skipping ports in use', async () => {
    const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const pool = Number(process.env.VITEST_POOL_ID);
    const a = await freePorts(20);
    const b = await freePorts(20);
    const all = [...a, ...b];
    expect(new Set(all).size).toBe(40);
    for (const port of all) {
      expect(port).toBeLessThan(ephemeralLow);
      expect(port).toBeGreaterThanOrEqual(20_000 + (pool - 1) * 2_000);
      expect(port).toBeLessThan(20_000 + pool * 2_000);
    }
  });
});
