/**
 * Operating `npm start` (docs/spec/start.md §1, §7): the real scripts/start.mjs as a child process, from the
 * sources (OVERT_START_SOURCE=1), on temporary data directories. It writes one JSON line per request with the
 * route pattern (never an id from the URL), at a level set by --log-level or OVERT_LOG_LEVEL; a second start on a
 * data directory in use refuses at once, naming the process that holds it (START-10), and a stale lock is taken
 * over; a port in use is named with the option that moves it (START-11). Every process started is stopped, also
 * when a test fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

// Every test here runs npm start, which waits for the trustee daemons' first ceremonies (start.md §4.2).
vi.setConfig({ testTimeout: 240_000 });

import { LOCK_FILE } from './lock.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dirs: string[] = [];
const running: ChildProcess[] = [];
const servers: Server[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'overt-ops-'));
  dirs.push(d);
  return d;
}

interface Run {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): string;
}

function run(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, ['scripts/start.mjs', ...args], {
    cwd: root,
    env: { ...process.env, OVERT_START_SOURCE: '1', OVERT_LOG_LEVEL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let out = '';
  child.stdout?.on('data', (d) => {
    out += String(d);
  });
  child.stderr?.on('data', (d) => {
    out += String(d);
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited, output: () => out };
}

/** Waits until `pred` holds for the output (or the process exits, or 150 s pass: npm start waits for the trustees). */
async function until(r: Run, pred: (out: string) => boolean, what: string): Promise<void> {
  let exited = false;
  void r.exited.then(() => {
    exited = true;
  });
  const deadline = Date.now() + 150_000;
  while (!pred(r.output())) {
    if (exited || Date.now() > deadline) throw new Error(`no ${what}; output:\n${r.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function started(r: Run): Promise<string> {
  await until(r, (o) => o.includes('Ctrl-C stops everything.'), 'start');
  return /relay\s+(http:\/\/\S+)/.exec(r.output())![1]!;
}

async function stop(r: Run): Promise<number | null> {
  if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
  return r.exited;
}

/** Processes whose command line names `dir` (the witness children carry their data directory in argv). */
function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(dir)) pids.push(Number(name));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return pids;
}

/** The request log lines written so far. */
function logLines(r: Run): Record<string, unknown>[] {
  return r
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

afterEach(async () => {
  // Whatever a test left running (also after a failure): SIGTERM, then SIGKILL; the witnesses follow their parent.
  for (const c of running.splice(0)) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  }
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('npm start: request logs (start.md §1.1)', () => {
  it('one JSON line per request with the route pattern, status and duration; refusals with their code; no ids', async () => {
    const data = tempDir();
    const r = run(['--port', '0', '--witness-ports', '0,0', '--data', data]);
    const url = await started(r);
    expect((await fetch(`${url}/v1/health`)).status).toBe(200);
    expect((await fetch(`${url}/v1/users/alice.secret/devices`)).status).toBe(401);
    expect((await fetch(`${url}/v1/no/such/thing`)).status).toBe(404);
    expect((await fetch(`${url}/log/checkpoint`)).status).toBe(200);
    await until(r, () => logLines(r).some((l) => l.route === '/log/*'), 'log line of the tile request');
    const lines = logLines(r);
    const by = (route: string) => lines.find((l) => l.route === route);
    expect(by('/v1/health')).toMatchObject({ level: 'info', msg: 'request', method: 'GET', status: 200 });
    expect(by('/v1/users/:userId/devices')).toMatchObject({
      level: 'warn',
      status: 401,
      code: 'AUTH_MISSING',
      check: 'AUTH-1',
    });
    expect(by('(unmatched)')).toMatchObject({
      level: 'warn',
      status: 404,
      code: 'RELAY_NOT_FOUND',
      check: 'RLY-6',
    });
    expect(by('/log/*')).toMatchObject({ level: 'info', method: 'GET', status: 200 });
    const allowed = new Set(['time', 'level', 'msg', 'method', 'route', 'status', 'ms', 'code', 'check']);
    for (const l of lines) {
      expect(Object.keys(l).filter((k) => !allowed.has(k))).toEqual([]);
      expect(typeof l.ms).toBe('number');
      expect(Number.isNaN(Date.parse(String(l.time)))).toBe(false);
    }
    // The user id in the URL appears nowhere in the log.
    expect(r.output()).not.toContain('alice.secret');
    expect(await stop(r)).toBe(0);
  });

  it('OVERT_LOG_LEVEL=warn keeps only refusals; a bad --log-level is a usage error', async () => {
    const bad = run(['--log-level', 'loud', '--data', tempDir()]);
    expect(await bad.exited).toBe(2);
    expect(bad.output()).toContain('--log-level');

    const r = run(['--port', '0', '--witness-ports', '0,0', '--data', tempDir()], {
      OVERT_LOG_LEVEL: 'warn',
    });
    const url = await started(r);
    expect((await fetch(`${url}/v1/health`)).status).toBe(200);
    expect((await fetch(`${url}/v1/mailbox`)).status).toBe(401);
    await until(r, () => logLines(r).length > 0, 'log line of the refusal');
    // Lines come in the order the answers were sent: the health check's would be first, and there is none.
    expect(logLines(r).map((l) => [l.level, l.route])).toEqual([['warn', '/v1/mailbox']]);
    expect(await stop(r)).toBe(0);
  });
});

describe('npm start: one start per data directory (START-10)', () => {
  it('a second start on a directory in use refuses, naming the process; a stale lock is taken over', async () => {
    const data = tempDir();
    const first = run(['--port', '0', '--witness-ports', '0,0', '--data', data]);
    const url = await started(first);
    const lock = join(data, LOCK_FILE);
    expect(readFileSync(lock, 'utf8')).toBe(`${first.child.pid}\n`);

    const before = processesUsing(data).sort();
    // The start, its two witnesses and its three trustee daemons.
    expect(before).toHaveLength(6);
    const second = run(['--port', '0', '--witness-ports', '0,0', '--data', data]);
    expect(await second.exited).toBe(1);
    expect(second.output()).toContain(`in use by process ${first.child.pid}`);
    expect(second.output()).toContain('START-10');
    expect(second.output()).not.toContain('Overt is running');
    // It started nothing: the processes using the directory are the first start's (itself, its witnesses, trustees).
    expect(processesUsing(data).sort()).toEqual(before);
    // The first one is untouched and still serves; its lock is its own.
    expect((await fetch(`${url}/v1/health`)).status).toBe(200);
    expect(readFileSync(lock, 'utf8')).toBe(`${first.child.pid}\n`);
    expect(await stop(first)).toBe(0);
    expect(existsSync(lock)).toBe(false);

    // A lock left by a process that is gone (as after a crash): taken over, and said so.
    const dead = spawn(process.execPath, ['-e', '']);
    const deadPid = dead.pid!;
    await new Promise((r) => dead.once('exit', r));
    writeFileSync(lock, `${deadPid}\n`);
    const third = run(['--port', '0', '--witness-ports', '0,0', '--data', data]);
    await started(third);
    expect(third.output()).toContain(`stale lock of the data directory (process ${deadPid} is gone)`);
    expect(readFileSync(lock, 'utf8')).toBe(`${third.child.pid}\n`);
    expect(await stop(third)).toBe(0);
  });
});

describe('npm start: ports in use (START-11)', () => {
  async function occupied(): Promise<number> {
    const s = createServer();
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as { port: number }).port;
  }

  it('names the relay port and --port, or the witness port and --witness-ports, and leaves nothing running', async () => {
    const port = await occupied();
    const relayData = tempDir();
    const relay = run(['--port', String(port), '--witness-ports', '0,0', '--data', relayData]);
    expect(await relay.exited).toBe(1);
    expect(relay.output()).toContain(`port ${port} on 127.0.0.1 (the relay) is already in use`);
    expect(relay.output()).toContain('--port N');
    // The witnesses had started before the relay's port was tried: they were stopped, and the lock released.
    expect(processesUsing(relayData)).toEqual([]);
    expect(existsSync(join(relayData, LOCK_FILE))).toBe(false);

    const witnessData = tempDir();
    const witness = run(['--port', '0', '--witness-ports', `${port},0`, '--data', witnessData]);
    expect(await witness.exited).toBe(1);
    expect(witness.output()).toContain(`port ${port} on 127.0.0.1 (the witness) is already in use`);
    expect(witness.output()).toContain('--witness-ports');
    expect(processesUsing(witnessData)).toEqual([]);
  });
});
