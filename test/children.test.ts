// Tests leave nothing running (test/children.ts): a spawning helper that fails mid-way, and a test that times out
// holding a process tree whose members ignore SIGTERM, each leave no process of theirs alive and free their port.
// Each pair is a test that fails on purpose (`it.fails`: it passes only if its body fails) and a test after it
// that checks by pid liveness what the first one left.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon } from '../packages/cli/test/run-cli.js';
import { TESSERA, tempDirs } from '../packages/witness/test/fixtures.js';
import { groupAlive, pidAlive, runningChildren, spawnChild } from './children.js';

const dirs = tempDirs();
afterAll(() => dirs.cleanup());

describe('a spawning helper that fails mid-way', () => {
  let pid = 0;
  let url = '';

  it.fails('(fails on purpose) starts `overt witness serve`, then waits for an event that never comes', async () => {
    const d = startDaemon([
      'witness',
      'serve',
      '--data',
      join(dirs.make(), 'w'),
      '--port',
      '0',
      '--log',
      `${TESSERA.origin}=${TESSERA.vkey}`,
      '--json',
    ]);
    pid = d.pid;
    url = (await d.waitFor((e) => e.event === 'listening')).url as string;
    expect(pidAlive(pid)).toBe(true);
    expect((await fetch(`${url}/add-checkpoint`, { method: 'POST', body: '' })).status).toBeGreaterThan(0);
    await d.waitFor((e) => e.event === 'never printed', 300);
  });

  it('left no process behind and freed its port', async () => {
    expect(pid).toBeGreaterThan(0);
    expect(pidAlive(pid)).toBe(false);
    expect(groupAlive(pid)).toBe(false);
    await expect(fetch(`${url}/add-checkpoint`, { method: 'POST', body: '' })).rejects.toThrow();
    expect(runningChildren()).toEqual([]);
  });
});

describe('a test that times out holding a process tree that ignores SIGTERM', () => {
  let pids: { child: number; grandchild: number } | undefined;

  it.fails('(times out on purpose) spawns a child that spawns a grandchild, both ignoring SIGTERM', async () => {
    const child = spawnChild(
      process.execPath,
      [
        '-e',
        `const { spawn } = require('node:child_process');
           const g = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"],
             { stdio: 'ignore' });
           process.on('SIGTERM', () => {});
           console.log(JSON.stringify({ child: process.pid, grandchild: g.pid }));
           setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    pids = await new Promise((resolve) => child.stdout!.once('data', (d) => resolve(JSON.parse(String(d)))));
    expect(pidAlive(pids!.child) && pidAlive(pids!.grandchild)).toBe(true);
    await new Promise(() => {}); // never settles: the test times out
  }, 3_000);

  it('left neither the child nor the grandchild (SIGKILL after the grace period)', () => {
    expect(pids).toBeDefined();
    expect(pidAlive(pids!.child)).toBe(false);
    expect(pidAlive(pids!.grandchild)).toBe(false);
    expect(groupAlive(pids!.child)).toBe(false);
    expect(runningChildren()).toEqual([]);
  });
});
