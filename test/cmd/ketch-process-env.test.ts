import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KETCH_MALLOC_ENV, v8PoolSize, withKetchProcessEnv } from '../../src/util/ketch-process-env.js';
import { freePorts } from '../api/free-port.js';

const ENTRY = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cmd', 'ketch.js');

describe('ketch process settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ketch-malloc-env-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('are added to an environment, and a value the caller set wins', () => {
    expect(KETCH_MALLOC_ENV).toEqual({ MALLOC_ARENA_MAX: '2' });
    expect(withKetchProcessEnv({ PATH: '/bin' }, 2)).toEqual({ PATH: '/bin', MALLOC_ARENA_MAX: '2', NODE_OPTIONS: '--v8-pool-size=1' });
    expect(withKetchProcessEnv({ MALLOC_ARENA_MAX: '8' }, 2).MALLOC_ARENA_MAX).toBe('8');
    // The caller's NODE_OPTIONS are kept, and its own pool size wins.
    expect(withKetchProcessEnv({ NODE_OPTIONS: '--max-old-space-size=512' }, 8).NODE_OPTIONS).toBe('--max-old-space-size=512 --v8-pool-size=4');
    expect(withKetchProcessEnv({ NODE_OPTIONS: '--v8-pool-size=3' }, 2).NODE_OPTIONS).toBe('--v8-pool-size=3');
  });

  it('give V8 one worker per core but the main thread, 1 to 4', () => {
    expect([1, 2, 3, 4, 5, 64].map(v8PoolSize)).toEqual([1, 1, 2, 3, 4, 4]);
  });

  it('start node with that many V8 workers (3 threads fewer than the default 4 on 2 cores)', async () => {
    // Thread count of a node process that waits: the main thread, V8's workers, libuv's and Node's own.
    const threads = async (env: NodeJS.ProcessEnv): Promise<number> => {
      const child = spawn(process.execPath, ['-e', 'process.stdout.write("up"); setTimeout(() => {}, 10000)'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        await new Promise<void>((resolve, reject) => {
          child.stdout.once('data', () => resolve());
          child.once('exit', (code) => reject(new Error(`node exited ${String(code)}`)));
        });
        return readdirSync(`/proc/${child.pid}/task`).length;
      } finally {
        child.kill('SIGKILL');
      }
    };
    const plain = { PATH: process.env.PATH };
    const [byDefault, withKetch] = [await threads(plain), await threads(withKetchProcessEnv(plain, 2))];
    expect(byDefault - withKetch).toBe(3);
  });

  it("are in the environment of a member started through the ketch bin's #! line, as an installed `ketch` runs", async () => {
    const shebang = readFileSync(ENTRY, 'utf8').split('\n')[0] ?? '';
    expect(shebang).toBe('#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node');
    // The kernel runs the interpreter with the rest of the line as one argument, then the script.
    const [interpreter = '', ...words] = shebang.slice(2).split(' ');
    const [client, peer] = await freePorts(2);
    const env = { ...process.env };
    delete env.MALLOC_ARENA_MAX;
    const child = spawn(
      interpreter,
      [
        words.join(' '),
        ENTRY,
        '--name', 'm1',
        '--data-dir', join(dir, 'm1'),
        '--listen-client-urls', `http://127.0.0.1:${client}`,
        '--advertise-client-urls', `http://127.0.0.1:${client}`,
        '--listen-peer-urls', `http://127.0.0.1:${peer}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
        '--initial-cluster', `m1=http://127.0.0.1:${peer}`,
        '--log-level', 'error',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'], env },
    );
    try {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const ok = await fetch(`http://127.0.0.1:${client}/health`).then((r) => r.ok, () => false);
        if (ok) break;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error('the member did not become healthy within 20 s');
        await new Promise((r) => setTimeout(r, 100));
      }
      // env execs node in its own place: the child's pid is the member.
      expect(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0')).toContain(ENTRY);
      expect(readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0')).toContain('MALLOC_ARENA_MAX=2');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
